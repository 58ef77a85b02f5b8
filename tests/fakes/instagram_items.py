"""Realistic ``apify/instagram-scraper`` dataset items whose media the fake CDN serves.

Field names, nesting and quirks follow the scraper's real output (see APIFY.md):
signed CDN links whose extension lies, children with their own ids, pinned
posts first, collab posts owned by someone else, an item that lacks
``displayUrl``, the same item twice.
"""

from __future__ import annotations

import copy
import itertools
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from . import media_files
from .apify_server import FakeApify

EMOJI_JAPANESE_CAPTION = "桜が満開でした 🌸🇯🇵\n今年もきれい！\n#日本 #桜 #spring"
HTML_CAPTION = '<script>alert("x")</script> <b>bold</b> & <a href="javascript:0">link</a> #html'
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

_SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ItemFactory:
    """Builds items for one profile, registering each medium on the fake CDN."""

    def __init__(self, fake: FakeApify, username: str, *, owner_id: str = "1784140572") -> None:
        self.fake = fake
        self.username = username
        self.owner_id = owner_id
        self._ids = itertools.count(3_300_000_000_000_000_001, 7919)
        self._age = itertools.count(1)

    # ---- media ----------------------------------------------------------------------

    def image_url(self, fmt: str = "jpeg") -> str:
        """A CDN link ending in .jpg whatever the bytes are, as Instagram's do."""
        makers = {
            "jpeg": (media_files.jpeg, "image/jpeg"),
            "png": (media_files.png, "image/png"),
            "webp": (media_files.webp, "image/webp"),
        }
        make, content_type = makers[fmt]
        return self.fake.add_media(f"{secrets.token_hex(8)}_n.jpg", make(), content_type)

    def video_url(self) -> str:
        return self.fake.add_media(f"{secrets.token_hex(8)}_n.mp4", media_files.mp4(), "video/mp4")

    # ---- items ----------------------------------------------------------------------

    def _base(self, item_type: str, caption: str, *, taken_at: datetime | None) -> dict[str, Any]:
        item_id = str(next(self._ids))
        short_code = "C" + "".join(secrets.choice(_SHORTCODE_ALPHABET) for _ in range(10))
        moment = taken_at or NOW - timedelta(days=next(self._age))
        return {
            "inputUrl": f"https://www.instagram.com/{self.username}/",
            "id": item_id,
            "type": item_type,
            "shortCode": short_code,
            "caption": caption,
            "hashtags": [],
            "mentions": [],
            "url": f"https://www.instagram.com/p/{short_code}/",
            "commentsCount": 3,
            "firstComment": "😍",
            "latestComments": [],
            "dimensionsHeight": 1350,
            "dimensionsWidth": 1080,
            "alt": None,
            "likesCount": 42,
            "timestamp": iso(moment),
            "childPosts": [],
            "ownerFullName": self.username.title(),
            "ownerUsername": self.username,
            "ownerId": self.owner_id,
            "isPinned": False,
            "isSponsored": False,
        }

    def image(
        self,
        caption: str = "A quiet morning by the sea #sea #morning",
        *,
        fmt: str = "jpeg",
        alt: str | None = "Photo by Alice on June 01, 2024. May be an image of ocean.",
        taken_at: datetime | None = None,
        with_display_url: bool = True,
        location: str | None = None,
    ) -> dict[str, Any]:
        item = self._base("Image", caption, taken_at=taken_at)
        url = self.image_url(fmt)
        item.update(
            hashtags=[w[1:] for w in caption.split() if w.startswith("#")],
            mentions=[w[1:] for w in caption.split() if w.startswith("@")],
            displayUrl=url,
            images=[url],
            alt=alt,
            productType="feed",
        )
        if not with_display_url:
            del item["displayUrl"]  # seen in real datasets: only ``images`` is left
        if location:
            item.update(locationName=location, locationId="213385402")
        return item

    def video(self, caption: str = "Waves 🌊 #reels", **kwargs: Any) -> dict[str, Any]:
        """A reel: a Video with an mp4 ``videoUrl`` and a poster ``displayUrl``."""
        item = self._base("Video", caption, taken_at=kwargs.pop("taken_at", None))
        poster = self.image_url("jpeg")
        item.update(
            displayUrl=poster,
            images=[],
            videoUrl=self.video_url(),
            videoViewCount=1200,
            videoPlayCount=3400,
            videoDuration=7.3,
            productType="clips",
            dimensionsHeight=1920,
            dimensionsWidth=1080,
            hashtags=[w[1:] for w in caption.split() if w.startswith("#")],
        )
        return item

    def carousel(
        self,
        caption: str = "Three views from the ridge ⛰️ #hiking",
        kinds: tuple[str, ...] = ("image", "video", "image"),
    ) -> dict[str, Any]:
        item = self._base("Sidecar", caption, taken_at=None)
        children = []
        for index, kind in enumerate(kinds):
            child = self._base("Video" if kind == "video" else "Image", "", taken_at=None)
            child.update(
                displayUrl=self.image_url("webp" if index == 2 else "jpeg"),
                alt=f"Photo {index + 1} of the ridge" if kind == "image" else None,
                dimensionsHeight=1080,
                dimensionsWidth=1080,
                timestamp=item["timestamp"],
            )
            if kind == "video":
                child["videoUrl"] = self.video_url()
            children.append(child)
        item.update(
            childPosts=children,
            displayUrl=children[0]["displayUrl"],
            images=[c["displayUrl"] for c in children],
            productType="carousel_container",
            hashtags=[w[1:] for w in caption.split() if w.startswith("#")],
        )
        return item

    def pinned_old(self) -> dict[str, Any]:
        """Pinned posts come first in a feed although they are old."""
        item = self.image("Pinned: our shop opened! 🎉", taken_at=NOW - timedelta(days=700))
        item["isPinned"] = True
        return item

    def collab(self, other_owner: str = "partner.brand") -> dict[str, Any]:
        item = self.image(f"Collab with @{other_owner} ✨")
        item.update(
            ownerUsername=other_owner,
            ownerId="99887766",
            ownerFullName="Partner Brand",
            coauthorProducers=[{"username": self.username}],
        )
        return item

    def emoji_japanese(self) -> dict[str, Any]:
        item = self.image(EMOJI_JAPANESE_CAPTION, alt=None, location="京都市")
        item["hashtags"] = []  # let the source extract them from the caption
        return item

    def html_caption(self) -> dict[str, Any]:
        return self.image(HTML_CAPTION, alt='<img src=x onerror="alert(1)">')

    @staticmethod
    def duplicate(item: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(item)

    def feed(self) -> list[dict[str, Any]]:
        """A realistic feed: pinned first, a reel, a carousel, a collab, a repeat, odd captions."""
        newest = self.image("Coffee with @ana.gomes ☕️\nSecond line", location="Lisboa")
        carousel = self.carousel()
        return [
            self.pinned_old(),
            newest,
            self.video(),
            carousel,
            self.collab(),
            self.emoji_japanese(),
            self.html_caption(),
            self.image("No display url here", with_display_url=False, fmt="png"),
            self.duplicate(carousel),
        ]
