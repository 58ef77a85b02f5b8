"""The Sources screen's mapping preview and "Repair" button in a real Chromium, through
the plugin's REST proxy (capability + nonce) to the stack's sidecar, the real
apify-client against the fake Apify, and the real WordPress.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi, WordPressApi
from tests.e2e.test_browser_sources import open_sources, page  # noqa: F401 (the fixture)
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory

pytestmark = pytest.mark.browser


def media_ids(content: str) -> list[int]:
    return [int(m) for m in re.findall(r'<!-- wp:image \{"id":(\d+)', content)]


def test_the_form_previews_its_mapping_and_repair_brings_back_a_deleted_image(
    page: Page, import_stack: Stack, import_api: SidecarApi,  # noqa: F811
    import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Callable[[FakeApify, list[dict[str, Any]]], list[dict[str, Any]]],
    import_waiter: Callable[..., None],
) -> None:
    username = f"repair.form.{int(time.time() * 1000) % 1_000_000}"
    factory = ItemFactory(import_apify, username)
    [item] = import_fresh(import_apify, [factory.image(
        "Pier at noon #pier", taken_at=datetime(2024, 8, 3, 12, 0, tzinfo=UTC))])
    import_apify.add_profile(username, [item])
    created = import_api.post("/api/sources", {"type": "apify", "username": username})
    assert created.status_code == 201, created.text
    source_id = created.json()["source_id"]
    synced = import_api.post(f"/api/sources/{source_id}/sync")
    assert synced.status_code == 202, synced.text
    import_api.finish(synced.json()["job_id"])
    post = import_wp.post_of(item["id"])

    open_sources(page, import_stack)
    expect(page.locator("#igbridge-src-preview-from")).to_have_text("Preview of a sample post")
    row = page.locator("#igbridge-sources-body tr", has_text=f"@{username}")
    row.get_by_role("button", name="Edit").click()
    preview = page.locator("#igbridge-src-preview")
    expect(preview.locator("#igbridge-src-preview-from")).to_have_text(
        "Preview of your newest imported post")
    expect(preview.locator("#igbridge-src-preview-title")).to_have_text(post["title"]["raw"])
    expect(preview.locator("#igbridge-src-preview-tags")).to_have_text("pier")
    # The preview follows the form.
    page.locator("#igbridge-source-form [name=title_rule]").select_option("date")
    page.locator("#igbridge-source-form [name=hashtags]").select_option("text")
    expect(preview.locator("#igbridge-src-preview-title")).to_have_text("2024-08-03")
    expect(preview.locator("#igbridge-src-preview-tags")).to_have_text("none")
    frame = page.frame_locator("#igbridge-src-preview-content")
    expect(frame.locator("p").first).to_have_text("Pier at noon #pier")

    [old] = media_ids(post["content"]["raw"])
    deleted = httpx.delete(f"{import_stack.wp_url}/wp-json/wp/v2/media/{old}",
                           params={"force": "true"}, timeout=30,
                           auth=(import_stack.wp_app_user, import_stack.wp_app_password))
    assert deleted.status_code == 200, deleted.text
    row.get_by_role("button", name="Repair").click()
    expect(page.locator("#igbridge-notices .notice-success").first).to_contain_text(
        "Repair started")
    import_waiter(lambda: media_ids(import_wp.post_of(item["id"])["content"]["raw"]) not in (
        [], [old]), "the repair to put a new image in the post", timeout=60)
    [new] = media_ids(import_wp.post_of(item["id"])["content"]["raw"])
    assert import_wp.media(new)["post"] == post["id"]
    # The stack is the session's: the Sources screen's tests read its list.
    gone = httpx.delete(f"{import_api.url}/api/sources/{source_id}",
                        headers=import_api.headers, timeout=30)
    assert gone.status_code == 200, gone.text
