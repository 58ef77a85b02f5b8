"""Fetch a profile's posts with Apify's Instagram scraper through the official client.

The run is started asynchronously (never the sync endpoint, which would hold a
connection for minutes), polled so its status message can be shown live, and its
dataset read page by page once it has finished. A cancelled job aborts the run,
so nobody pays for scraping nobody waits for. A job resumed after a crash passes
the run id it stored and continues with that run instead of starting another.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import impit
import pydantic
from apify_client import ApifyClientAsync
from apify_client.errors import (
    ApifyApiError,
    ApifyClientError,
    ForbiddenError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnauthorizedError,
)

from ..config import Config
from ..domain.models import Media, MediaKind, Post, Skipped, extract_hashtags, extract_mentions
from ..errors import SourceError, TransientError
from ..jobs.retry import request_policy
from ..jobs.timing import waiting_on
from .base import SourceJob

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT"})
DATASET_PAGE_SIZE = 100
ABORT_TIMEOUT_SECONDS = 3.0
# instagram-scraper charges per result; a generous per-post ceiling still stops a runaway run.
MAX_CHARGE_PER_POST_USD = Decimal("0.01")
MIN_CHARGE_USD = Decimal("0.10")
NO_ITEMS_CODE = "apify_no_items"
_USERNAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")

StatusCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class FetchResult:
    posts: list[Post] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    run_id: str = ""
    charge: dict[str, Any] = field(default_factory=dict)  # what the run cost (run_charge)


def normalize_username(username: str) -> str:
    """``@Some.User`` or a profile URL → ``Some.User``; a clear error for anything else."""
    name = username.strip()
    if match := re.match(r"^(?:https?://)?(?:www\.)?instagram\.com/([^/?#]+)", name):
        name = match[1]
    name = name.removeprefix("@")
    if not _USERNAME.match(name):
        raise SourceError(
            f"{username!r} is not an Instagram username (letters, digits, '.' and '_', "
            "at most 30 characters)"
        )
    return name


def run_input(username: str, limit: int, only_newer_than: str | None = None) -> dict[str, Any]:
    """The scraper's input; ``only_newer_than`` (ISO date-time) makes it stop at the first
    post that old, so a sync pays for the new posts only."""
    found: dict[str, Any] = {
        "directUrls": [f"https://www.instagram.com/{username}/"],
        "resultsType": "posts",
        "resultsLimit": limit,
    }
    if only_newer_than:
        found["onlyPostsNewerThan"] = only_newer_than
    return found


async def fetch_posts(
    config: Config,
    username: str,
    limit: int,
    *,
    on_status: StatusCallback,
    on_run_started: Callable[[str], Awaitable[None]] | None = None,
    resume_run_id: str | None = None,
    only_newer_than: str | None = None,
) -> FetchResult:
    """Posts of ``username`` (at most ``limit``) as normalized ``Post`` values.

    Raises ``SourceError`` for a final failure (private account, failed run, bad
    token) and ``TransientError`` for a network fault worth retrying.
    """
    name = normalize_username(username)
    if limit < 1:
        raise SourceError(f"the post limit must be at least 1, got {limit}")
    if not config.apify_token:
        raise SourceError("Apify is not configured: enter the Apify token under Settings → "
                          "igbridge in wp-admin (or set APIFY_TOKEN) to scrape Instagram")
    client = ApifyClientAsync(
        config.apify_token,
        api_url=config.apify_api_url,
        api_public_url=config.apify_api_url,
        # apify-client's own retry loop (jittered exponential, 429 and 5xx), run on the
        # request-level numbers of jobs/retry.py; what it gives up on is a TransientError.
        max_retries=request_policy(config).attempts - 1,
        min_delay_between_retries=timedelta(seconds=request_policy(config).base_seconds),
    )
    try:
        with _translated_errors(config):
            run = await _start_or_resume(client, config, name, limit, resume_run_id,
                                         only_newer_than)
            run_id: str = run.id
            try:
                if on_run_started is not None and resume_run_id is None:
                    await on_run_started(run_id)
                run = await _wait_for_run(client, config, run, on_status)
            except asyncio.CancelledError:
                await _abort_quietly(client, run_id)
                raise
            items = [item async for item in _dataset_items(client, run.default_dataset_id)]
        if run.status != "SUCCEEDED":
            message = run.status_message or "no message"
            raise SourceError(
                f"Apify run {run_id} ended {run.status} while scraping @{name}: {message}"
            )
        return replace(map_items(items, name, run_id), charge=run_charge(run, len(items)))
    finally:
        await client.http_client.aclose()


async def _start_or_resume(
    client: ApifyClientAsync, config: Config, name: str, limit: int, resume_run_id: str | None,
    only_newer_than: str | None = None,
) -> Any:
    if resume_run_id:
        run = await client.run(resume_run_id).get()
        if run is None:
            raise SourceError(f"Apify run {resume_run_id} no longer exists; start the job again")
        return run
    return await client.actor(config.apify_actor).start(
        run_input=run_input(name, limit, only_newer_than), max_items=limit,
        max_total_charge_usd=charge_cap(limit),
    )


def charge_cap(limit: int) -> Decimal:
    """The ``maxTotalChargeUsd`` every run is started with: a runaway run stops there."""
    return max(MIN_CHARGE_USD, MAX_CHARGE_PER_POST_USD * limit)


async def _wait_for_run(
    client: ApifyClientAsync, config: Config, run: Any, on_status: StatusCallback
) -> Any:
    """Poll until the run is terminal, reporting each new status message once."""
    last_message: str | None = None
    run_client = client.run(run.id)
    while True:
        message = run.status_message
        if message and message != last_message:
            last_message = message
            await on_status(message)
        if run.status in TERMINAL_STATUSES:
            return run
        await asyncio.sleep(config.apify_poll_seconds)
        run = await run_client.get()
        if run is None:
            raise SourceError(f"Apify run {run_client.resource_id} disappeared while running")


async def _dataset_items(client: ApifyClientAsync, dataset_id: str) -> Any:
    async for item in client.dataset(dataset_id).iterate_items(chunk_size=DATASET_PAGE_SIZE):
        yield item


async def _abort_quietly(client: ApifyClientAsync, run_id: str) -> None:
    """Abort the run on cancel; a failed abort must not hide the cancellation."""
    with suppress(ApifyClientError, impit.HTTPError, TimeoutError, pydantic.ValidationError):
        await asyncio.wait_for(client.run(run_id).abort(), ABORT_TIMEOUT_SECONDS)


@contextmanager
def _translated_errors(config: Config) -> Iterator[None]:
    """Map the client's exceptions onto the sidecar's family exactly once."""
    try:
        yield
    except (SourceError, TransientError):
        raise
    except Exception as exc:
        error = _translate(exc, config)
        if error is None:
            raise
        raise error from exc


def _translate(exc: BaseException, config: Config) -> Exception | None:
    api = config.apify_api_url
    if isinstance(exc, UnauthorizedError):
        return SourceError(
            f"Apify rejected the token ({exc.type or 401}): check the Apify token under "
            "Settings → igbridge (or APIFY_TOKEN)", code="apify_auth"
        )
    if isinstance(exc, ForbiddenError):
        return SourceError(f"Apify refused the request: {exc.message}", code="apify_auth")
    if isinstance(exc, NotFoundError):
        return SourceError(f"Apify could not find it ({exc.type}): {exc.message}")
    if isinstance(exc, RateLimitError | ServerError):
        return TransientError(f"Apify is unavailable ({exc.status_code}): {exc.message}")
    if isinstance(exc, ApifyApiError):
        return SourceError(f"Apify refused the request ({exc.status_code}): {exc.message}")
    if isinstance(exc, impit.HTTPError):
        return TransientError(f"cannot reach Apify at {api}: {type(exc).__name__}: {exc}")
    if isinstance(exc, ApifyClientError):
        return TransientError(f"unreadable answer from Apify at {api}: {exc}")
    if isinstance(exc, pydantic.ValidationError):
        return SourceError(f"unexpected answer from Apify at {api}: {exc.error_count()} bad fields")
    return None


# ---- what a run costs ---------------------------------------------------------------
#
# The actor's pricing records are on the actor (``GET /v2/acts/{id}``: ``pricingInfos``,
# past ones included, each effective from its ``startedAt``); the run carries the record
# it ran under (``pricingInfo``), the pay-per-event counts it was charged
# (``chargedEventCounts``) and the platform usage (``usageTotalUsd``).


def _current_pricing(infos: list[Any] | None, at: datetime) -> Any | None:
    """The pricing record in effect at ``at``: the latest one started by then."""
    started = [i for i in infos or [] if i.started_at <= at]
    return max(started, key=lambda i: i.started_at) if started else None


def price_per_result(pricing: Any | None) -> Decimal | None:
    """USD per dataset item under ``pricing``: pay-per-result's unit price, or the price of
    a pay-per-event actor's primary event (the one charged per result); None when the
    model has no per-result price (free actors: 0)."""
    if pricing is None:
        return None
    model = pricing.pricing_model
    if model == "FREE":
        return Decimal(0)
    if model == "PRICE_PER_DATASET_ITEM" and pricing.price_per_unit_usd is not None:
        return Decimal(str(pricing.price_per_unit_usd))
    if model == "PAY_PER_EVENT":
        events = pricing.pricing_per_event.actor_charge_events or {}
        primary = [e for e in events.values()
                   if e.is_primary_event and e.event_price_usd is not None]
        if primary:
            return Decimal(str(primary[0].event_price_usd))
    return None


# Pay per event: the platform's own start event, charged at each start of a run, one
# per GB of the run's memory and at least one (docs.apify.com, "Pay per event":
# synthetic events); and the start fee an actor defines itself, charged once a run.
SYNTHETIC_START_EVENT = "apify-actor-start"
ACTOR_START_EVENTS = frozenset({"actor-start"})


def start_fee(pricing: Any | None, memory_mbytes: int | None) -> Decimal:
    """USD a pay-per-event run is charged for starting, whatever it finds (0 under the
    other models: their price is per result alone)."""
    if pricing is None or pricing.pricing_model != "PAY_PER_EVENT":
        return Decimal(0)
    fee = Decimal(0)
    for name, event in (pricing.pricing_per_event.actor_charge_events or {}).items():
        if event.is_primary_event or event.event_price_usd is None:
            continue
        price = Decimal(str(event.event_price_usd))
        if name == SYNTHETIC_START_EVENT:
            fee += price * max(1, math.ceil((memory_mbytes or 1024) / 1024))
        elif name in ACTOR_START_EVENTS:
            fee += price
    return fee


async def estimate_run_cost(config: Config, limit: int) -> dict[str, Any]:
    """What a run for ``limit`` posts will cost at most, before it starts: its start fee
    plus results × the actor's current price per result, capped by the run's
    ``maxTotalChargeUsd``."""
    if not config.apify_token:
        raise SourceError("Apify is not configured: enter the Apify token under Settings → "
                          "igbridge in wp-admin (or set APIFY_TOKEN) to scrape Instagram")
    client = ApifyClientAsync(config.apify_token, api_url=config.apify_api_url,
                              api_public_url=config.apify_api_url,
                              max_retries=request_policy(config).attempts - 1)
    try:
        with _translated_errors(config):
            actor = await client.actor(config.apify_actor).get()
    finally:
        await client.http_client.aclose()
    if actor is None:
        raise SourceError(f"Apify has no actor {config.apify_actor} (IGBRIDGE_APIFY_ACTOR)")
    pricing = _current_pricing(actor.pricing_infos, datetime.now(UTC))
    price = price_per_result(pricing)
    # The run starts with the actor's default memory: igbridge does not set its own.
    fee = start_fee(pricing, actor.default_run_options.memory_mbytes)
    cap = charge_cap(limit)
    return {
        "pricing_model": pricing.pricing_model if pricing else None,
        "price_per_result_usd": float(price) if price is not None else None,
        "start_fee_usd": float(fee),
        "results": limit,
        "max_total_charge_usd": float(cap),
        "estimate_usd": float(min(fee + price * limit, cap)) if price is not None else None,
    }


def run_charge(run: Any, items: int) -> dict[str, Any]:
    """What a finished run was charged: pay-per-event counts × their prices, or the items
    it stored × the price per result (at most ``maxItems``), never above its cap; and
    the platform usage Apify reports beside it."""
    pricing = run.pricing_info
    counts = dict(run.charged_event_counts or {})
    charged: Decimal | None = None
    if pricing is not None and pricing.pricing_model == "PAY_PER_EVENT":
        events = pricing.pricing_per_event.actor_charge_events or {}
        charged = sum((Decimal(str(events[name].event_price_usd or 0)) * count
                       for name, count in counts.items() if name in events), Decimal(0))
    elif (price := price_per_result(pricing)) is not None:
        paid = min(items, run.options.max_items) if run.options.max_items else items
        charged = price * paid
    cap = run.options.max_total_charge_usd
    if charged is not None and cap is not None:
        charged = min(charged, Decimal(str(cap)))
    return {
        "charged_usd": float(charged) if charged is not None else None,
        "charged_event_counts": counts,
        "usage_total_usd": run.usage_total_usd,
        "apify_run_id": run.id,
    }


# ---- dataset items → Post -------------------------------------------------------------


def map_items(items: list[Any], username: str, run_id: str) -> FetchResult:
    """Normalize dataset items, skipping collabs, duplicates and error items with a reason."""
    result = FetchResult(run_id=run_id)
    error_items: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            result.skipped.append(Skipped(f"item-{index}", "dataset item is not an object"))
            continue
        if item.get("error"):
            error_items.append(item)
            continue
        source_id = str(item.get("id") or item.get("shortCode") or "")
        if not source_id:
            result.skipped.append(Skipped(f"item-{index}", "item without id or shortCode"))
            continue
        owner = item.get("ownerUsername")
        if isinstance(owner, str) and owner and owner.casefold() != username.casefold():
            result.skipped.append(Skipped(source_id, f"collab post by @{owner}"))
            continue
        if source_id in seen:
            result.skipped.append(Skipped(source_id, "duplicate in feed"))
            continue
        post = item_to_post(item, source_id, username)
        if isinstance(post, Skipped):
            result.skipped.append(post)
            continue
        seen.add(source_id)
        result.posts.append(post)
    if not result.posts and error_items:
        first = error_items[0]
        description = first.get("errorDescription") or first.get("error")
        # A date filter that matches nothing yields the same item: the sync kind tells
        # the two apart by whether the account was reachable before.
        raise SourceError(
            f"Instagram account @{username} is private or empty (Apify: {description})",
            code=NO_ITEMS_CODE,
        )
    if not result.posts and not result.skipped:
        raise SourceError(f"Apify found no posts for @{username} (the run returned no items)")
    for item in error_items:
        result.skipped.append(
            Skipped(str(item.get("url") or "error"), f"Apify error item: {item.get('error')}")
        )
    return result


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _media_of(node: Mapping[str, Any], kind_field: str = "type") -> Media | None:
    kind: MediaKind = "video" if node.get(kind_field) == "Video" else "image"
    images = node.get("images")
    first_image = images[0] if isinstance(images, list) and images else None
    url = node.get("videoUrl") if kind == "video" else None
    url = url or node.get("displayUrl") or first_image
    if not isinstance(url, str) or not url:
        return None
    dimensions = node.get("dimensions")
    if isinstance(dimensions, dict):
        width, height = dimensions.get("width"), dimensions.get("height")
    else:
        width, height = node.get("dimensionsWidth"), node.get("dimensionsHeight")
    poster = node.get("displayUrl") or first_image if kind == "video" else None
    return Media(
        kind=kind,
        url=url,
        width=_int_or_none(width),
        height=_int_or_none(height),
        alt=_text(node.get("alt")),
        poster_url=poster if isinstance(poster, str) and poster != url else None,
    )


def _item_media(item: Mapping[str, Any]) -> list[Media] | None:
    """Media in display order; ``None`` when a listed medium has no URL at all."""
    children = item.get("childPosts")
    if item.get("type") == "Sidecar" and isinstance(children, list) and children:
        media = [_media_of(child) for child in children if isinstance(child, dict)]
        return None if any(m is None for m in media) else cast(list[Media], media)
    if item.get("type") == "Sidecar" and isinstance(item.get("images"), list):
        urls = [u for u in item["images"] if isinstance(u, str) and u]
        return [Media(kind="image", url=u, alt=_text(item.get("alt"))) for u in urls] or None
    single = _media_of(item)
    return [single] if single else None


def item_to_post(item: Mapping[str, Any], source_id: str, username: str) -> Post | Skipped:
    taken_at = _timestamp(item.get("timestamp"))
    if taken_at is None:
        return Skipped(source_id, f"no usable timestamp ({item.get('timestamp')!r})")
    media = _item_media(item)
    if not media:
        return Skipped(source_id, "no media URL in the item")
    caption = _text(item.get("caption"))
    short_code = item.get("shortCode") if isinstance(item.get("shortCode"), str) else None
    permalink = _text(item.get("url")) or (
        f"https://www.instagram.com/p/{short_code}/" if short_code else None
    )
    location = _text(item.get("locationName")) or None
    latitude, longitude = _coordinates(item.get("location"))
    return Post(
        source_id=source_id,
        short_code=short_code,
        permalink=permalink,
        owner=_text(item.get("ownerUsername")) or username,
        taken_at=taken_at,
        caption=caption,
        # From the caption by Instagram's rule, not the item's own lists: the scraper's
        # rule is greedier ('samenkoken"' keeps a quote, "hulu." a full stop, and the
        # domain of info@goeduitje.nl passes for a mention).
        hashtags=extract_hashtags(caption),
        mentions=extract_mentions(caption),
        location=location,
        alt=_text(item.get("alt")),
        media=tuple(media),
        is_pinned=bool(item.get("isPinned")),
        origin="apify",
        latitude=latitude,
        longitude=longitude,
        # Reels are "clips" to Instagram (a feed video is "feed", IGTV "igtv").
        is_reel=item.get("productType") == "clips",
    )


def _coordinates(location: Any) -> tuple[float | None, float | None]:
    """``{"lat": …, "lng": …}`` (or latitude/longitude) where an item carries a place's
    coordinates; most carry only ``locationName`` and ``locationId``."""
    if not isinstance(location, dict):
        return None, None
    lat = _finite(location.get("lat", location.get("latitude")))
    lng = _finite(location.get("lng", location.get("longitude")))
    if lat is not None and lng is not None and abs(lat) <= 90 and abs(lng) <= 180:
        return lat, lng
    return None, None


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@dataclass(frozen=True)
class ApifySource:
    """A job's ``{"type": "apify", "username", "limit"}`` source."""

    config: Config
    username: str
    limit: int
    only_newer_than: str | None = None

    async def read(self, job: SourceJob) -> tuple[list[Post], list[Skipped]]:
        phase = "Scraping via Apify"
        job.report(f"Starting the Apify scraper for @{self.username.lstrip('@')}", phase=phase)

        async def on_status(message: str) -> None:
            job.report(f"Apify: {message}", phase=phase)

        async def on_run_started(run_id: str) -> None:
            await job.save_state(apify_run_id=run_id)

        with waiting_on("apify"):  # a run of the scraper on Apify's machines
            result = await fetch_posts(
                self.config, self.username, self.limit, on_status=on_status,
                on_run_started=on_run_started, resume_run_id=job.state.get("apify_run_id"),
                only_newer_than=self.only_newer_than,
            )
        # What the run really cost, beside the estimate a preview made before it started.
        await job.save_state(cost={**job.state.get("cost", {}), **result.charge})
        job.report(f"Apify returned {len(result.posts)} post(s)", phase=phase)
        return result.posts, result.skipped
