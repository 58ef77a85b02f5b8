"""Configuration from the environment: defaults, and numbers out of range named clearly."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize(("env", "message"), [
    ({"IGBRIDGE_HEARTBEAT_SECONDS": "0.01"},
     "IGBRIDGE_HEARTBEAT_SECONDS must be at least 0.05, got 0.01"),
    ({"IGBRIDGE_BACKOFF_SECONDS": "soon"}, "IGBRIDGE_BACKOFF_SECONDS must be a number, got 'soon'"),
    ({"IGBRIDGE_PORT": "-1"}, "IGBRIDGE_PORT must be at least 0, got -1"),
    ({"IGBRIDGE_WP_URL": "wp.test"},
     "IGBRIDGE_WP_URL must start with http:// or https://, got 'wp.test'"),
    ({"IGBRIDGE_ALLOWED_ORIGINS": "http://a.test,b.test"},
     "IGBRIDGE_ALLOWED_ORIGINS entry 'b.test' must be an http(s) origin"),
    ({"IGBRIDGE_MAX_JOBS": "0", "IGBRIDGE_JOB_ATTEMPTS": "x"},
     "IGBRIDGE_MAX_JOBS must be at least 1, got 0; "
     "IGBRIDGE_JOB_ATTEMPTS must be a whole number, got 'x'"),
])
def test_every_bad_value_is_refused_by_its_variables_name(env: dict[str, str],
                                                          message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.message == message


def test_values_are_read_under_their_names_and_cleaned() -> None:
    config = load_config({"APIFY_TOKEN": "tok", "IGBRIDGE_BACKOFF_SECONDS": "0.1",
                          "IGBRIDGE_ALLOWED_ORIGINS": " http://a.test/ , https://b.test",
                          "IGBRIDGE_WP_URL": " http://wp.test/ ", "IGBRIDGE_DATA_DIR": "/d",
                          "IGBRIDGE_URL": "read by the CLI, not here"}, port=9)
    assert (config.apify_token, config.backoff_base_seconds, config.allowed_origins,
            config.wp_url, str(config.data_dir), config.port) == (
        "tok", 0.1, ("http://a.test", "https://b.test"), "http://wp.test", "/d", 9)


def test_a_secret_may_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    assert load_config({"IGBRIDGE_SECRET_FILE": str(tmp_path / "secret")}).secret == "s3cret"
    with pytest.raises(ConfigError, match="IGBRIDGE_SECRET_FILE="):
        load_config({"IGBRIDGE_SECRET_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize("value", ["sqlite", "redis://127.0.0.1:6379/0",
                                   "redis://:pw@redis.internal:6390/15",
                                   "redis://127.0.0.1:6379/0?maxlen=5000"])
def test_the_backend_is_sqlite_or_a_redis_url(value: str) -> None:
    assert load_config({"IGBRIDGE_BACKEND": value}).backend == value


@pytest.mark.parametrize(("value", "problem"), [
    ("mysql", "must be 'sqlite' or redis://host:port/db, got 'mysql'"),
    ("postgres://db:5432/0", "names no backend this sidecar has: postgres://"),
    ("redis://:6379/0", "has no host"),
    ("redis://127.0.0.1/0", "needs a port from 1 to 65535"),
    ("redis://127.0.0.1:70000/0", "has a port that is not a number from 1 to 65535"),
    ("redis://127.0.0.1:6379", "needs a database number after the port"),
    ("redis://127.0.0.1:6379/first", "needs a database number after the port"),
    ("redis://127.0.0.1:6379/0?timeout=1", "takes no query or fragment but ?maxlen=N"),
    ("redis://127.0.0.1:6379/0?maxlen=ten", "?maxlen must be a whole number of at least 100"),
])
def test_a_bad_backend_is_refused_with_what_is_wrong(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"IGBRIDGE_BACKEND": value})
    assert caught.value.message.startswith(f"IGBRIDGE_BACKEND {problem}")


def test_a_password_in_the_backend_url_is_never_repeated() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"IGBRIDGE_BACKEND": "redis://:hunter2@127.0.0.1:6379/zero"})
    assert "hunter2" not in caught.value.message


def test_the_uploads_dir_is_the_data_dirs_own_unless_set(tmp_path: Path) -> None:
    own = load_config({"IGBRIDGE_DATA_DIR": str(tmp_path)})
    assert (own.uploads_dir, own.upload_directory) == (None, tmp_path / "uploads")
    assert own.uploads_per_process is None  # SQLite: one process per data dir anyway
    on_redis = load_config({"IGBRIDGE_DATA_DIR": str(tmp_path),
                            "IGBRIDGE_BACKEND": "redis://127.0.0.1:6379/0"})
    assert "IGBRIDGE_UPLOADS_DIR is not set" in (on_redis.uploads_per_process or "")
    shared = load_config({"IGBRIDGE_DATA_DIR": str(tmp_path),
                          "IGBRIDGE_BACKEND": "redis://127.0.0.1:6379/0",
                          "IGBRIDGE_UPLOADS_DIR": "/srv/igbridge-uploads"})
    assert shared.upload_directory == Path("/srv/igbridge-uploads")
    assert shared.uploads_per_process is None
    # Relative, it would be another directory for each process started elsewhere.
    with pytest.raises(ConfigError) as refused:
        load_config({"IGBRIDGE_UPLOADS_DIR": "shared/uploads"})
    assert refused.value.message == (
        "IGBRIDGE_UPLOADS_DIR must be an absolute path, got 'shared/uploads'")
