"""What an Apify run costs, from pricing records and runs as apify-client models them
(validated from the fake's JSON, the shapes of the real API): the cases the end-to-end
preview tests do not reach."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from apify_client._models import Run
from pydantic import TypeAdapter

from sidecar.sources.apify import price_per_result, run_charge, start_fee
from tests.fakes.apify_server import FakeApify, FakeRun, Profile, pay_per_event
from tests.fakes.apify_server import price_per_result as per_result_record

PRICING: TypeAdapter[Any] = TypeAdapter(Run.model_fields["pricing_info"].annotation)


@pytest.fixture
def fake() -> Iterator[FakeApify]:
    with FakeApify() as server:
        yield server


def run_of(fake: FakeApify, pricing: dict[str, Any] | None, items: int,
           max_items: int | None = None, cap: float | None = None) -> Run:
    profile = Profile("someone", [{"id": str(n)} for n in range(items)])
    run = FakeRun("run1", fake.actor, profile, {}, max_items, cap, pricing=pricing)
    run.jumped_to_end = True  # finished: every item is in the dataset
    return Run.model_validate(run.to_json(fake))


def test_the_price_per_result_of_each_pricing_model() -> None:
    free = {"pricingModel": "FREE", "apifyMarginPercentage": 0,
            "createdAt": "2024-01-01T00:00:00Z", "startedAt": "2024-01-01T00:00:00Z"}
    no_primary = pay_per_event({"actor-start": 0.01, "page": 0.002}, primary="none")

    assert [price_per_result(PRICING.validate_python(p)) for p in (
        per_result_record(0.0023), free, no_primary)] == [Decimal("0.0023"), Decimal(0), None]
    assert price_per_result(None) is None


def test_pay_per_result_is_charged_for_at_most_max_items_and_never_above_the_cap(
    fake: FakeApify,
) -> None:
    paid = run_charge(run_of(fake, per_result_record(0.01), items=30, max_items=10), 30)
    capped = run_charge(run_of(fake, per_result_record(0.01), items=30, cap=0.05), 30)
    unpriced = run_charge(run_of(fake, None, items=3), 3)

    assert (paid["charged_usd"], capped["charged_usd"], unpriced["charged_usd"]) == (
        pytest.approx(0.1), pytest.approx(0.05), None)
    assert paid["apify_run_id"] == "run1"


def test_pay_per_event_is_each_charged_event_at_its_price(fake: FakeApify) -> None:
    pricing = pay_per_event({"actor-start": 0.02, "result": 0.003}, primary="result")

    charge = run_charge(run_of(fake, pricing, items=4, cap=5.0), 4)

    assert charge["charged_event_counts"] == {"actor-start": 1, "result": 4}
    assert charge["charged_usd"] == pytest.approx(0.02 + 4 * 0.003)


def test_a_pay_per_event_start_fee_is_the_actors_own_once_and_the_platforms_per_gb() -> None:
    # The platform's apify-actor-start: one event per GB of the run's memory, at least one
    # (docs.apify.com, pay per event, synthetic events); an actor's own start event once.
    both = PRICING.validate_python(pay_per_event(
        {"apify-actor-start": 0.001, "actor-start": 0.02, "page": 0.5, "result": 0.003},
        primary="result"))
    synthetic = PRICING.validate_python(pay_per_event(
        {"apify-actor-start": 0.001, "result": 0.003}, primary="result"))

    assert start_fee(both, 4096) == Decimal("0.024")  # 4 GB; "page" is not a start fee
    assert start_fee(synthetic, 512) == Decimal("0.001")  # at least one
    assert start_fee(synthetic, 1536) == Decimal("0.002")  # a started GB counts
    assert start_fee(PRICING.validate_python(per_result_record(0.0023)), 4096) == 0
    assert start_fee(None, 1024) == 0
