"""Configuration from the environment: defaults, and numbers out of range named clearly."""

from __future__ import annotations

import pytest

from sidecar.config import load_config
from sidecar.errors import ConfigError


def test_import_defaults() -> None:
    config = load_config({})
    assert (config.import_concurrency, config.import_batch) == (4, 10)


@pytest.mark.parametrize(("raw", "message"), [
    ("0", "IGBRIDGE_IMPORT_BATCH must be at least 1, got 0"),
    ("26", "IGBRIDGE_IMPORT_BATCH must be at most 25, got 26"),
    ("ten", "IGBRIDGE_IMPORT_BATCH must be a whole number, got 'ten'"),
])
def test_batch_sizes_wordpress_would_refuse_are_refused_here(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"IGBRIDGE_IMPORT_BATCH": raw})
    assert caught.value.message == message


def test_an_empty_value_means_the_default() -> None:
    assert load_config({"IGBRIDGE_IMPORT_BATCH": ""}).import_batch == 10
