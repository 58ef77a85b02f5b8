"""Job kind ``repair``: put back media gone from imported posts, refresh changed captions.

For a saved source the job reads the source afresh (its posts as Instagram has them
now, with the source's mapping); for the whole site (``{"type": "site"}``) it takes
every post this sidecar imported, as the newest job that imported it read it, with
that job's mapping (no new scrape). Each of those posts found in WordPress is checked:

- media: the attachments its content names (image and video blocks) must still be in
  the media library with their files served. A missing one is uploaded again from the
  media cache or, failing that, the source, and the post points at the new attachment.
  The broken one (its record still there, its file gone) is then deleted, but only if
  igbridge uploaded it (``_igbridge_media_of`` on the attachment) and no post uses it
  (the plugin's ``media/{id}/users``); else, or if the delete fails, it stays and the
  item says so;
- caption: where the caption is not the one imported (the import keeps hashes of the
  caption and of the content it wrote in post meta), the content is rendered anew by
  the import's own code (``Mapping.render``), but only while the content is still what
  the import wrote: a post edited in WordPress keeps its text, and the item says so
  (its media are still repaired, in place). A title the mapping makes from the caption
  is written anew the same way, on its own: only while it is still what the import
  wrote (its hash in post meta; for a post imported before that hash was kept, the
  title the old caption made, where an earlier job read that caption).

Every item says what was done: ``imported`` = repaired (the reason names what),
``already_imported`` = nothing to do, ``skipped`` = left as is (edited in WordPress,
deleted, not in WordPress), ``failed`` = what could not be repaired, and why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ...domain.content import UploadedMedia
from ...domain.mapping import Mapping, content_hash
from ...domain.models import ItemState, Post
from ...errors import JOB_LEVEL_FAULTS, IgbridgeError, MediaError
from ...media.cache import CachedMedia, MediaCache
from ...progress.phases import UNCOUNTED, PhasePlan
from ...wordpress.client import LOOKUP_IDS, Json, WordPressClient
from ..context import ItemOutcome, JobContext
from ..stages import PHASE_GUESSES, READING_EXPORT, SCRAPING, fetch_media, fetch_source, new_items
from .import_posts import (
    CAPTION_HASH_META,
    CONTENT_HASH_META,
    MEDIA_OF_META,
    TITLE_HASH_META,
    imported_hashes,
    stored_title_of,
    upload_once,
)

GATHERING = "Reading what was imported"
REPAIRING = "Repairing posts"
# Jobs that bring posts into WordPress: a whole-site repair looks at their posts (with
# the data of the newest job that read each, a repair's too).
SITE_JOB_KINDS = ("import", "sync")
SITE_JOB_LIMIT = 1000

NOTHING_TO_DO = "nothing to do"
EDITED = "content edited in WordPress since import: caption left as is"
CAPTION_UPDATED = "caption updated"
TITLE_UPDATED = "title updated"
TITLE_EDITED = "title edited in WordPress since import: kept"
TITLE_UNKNOWN = ("title left as is: imported before igbridge kept the title it wrote, and "
                 "the caption it was made from is not known")
MEDIA_LOST = "caption left as is: not every media of the post could be had to write it anew"
NO_HASHES = ("imported before igbridge kept what it wrote: caption not checked")

# An image or video block's opening comment and everything up to its end: its ``id``
# attribute names the attachment (``domain/content.py`` writes them so).
MEDIA_BLOCK = re.compile(r"<!-- wp:(image|video) (\{.*?\}) -->(.*?)<!-- /wp:\1 -->", re.DOTALL)


async def run_repair(ctx: JobContext) -> str:
    site = ctx.source.get("type") == "site"
    first = GATHERING if site else (
        READING_EXPORT if ctx.source.get("type") == "export" else SCRAPING)
    guess = 1.0 if site else PHASE_GUESSES[first][1]
    ctx.plan([PhasePlan(first, UNCOUNTED, guess, 1.0), PhasePlan(REPAIRING, "posts", 0.1, 0.0)])
    posts, mappings = await _site_posts(ctx) if site else await _source_posts(ctx)
    await ctx.add_items(new_items(posts))
    ledger = await ctx.items()
    todo = [p for p in posts if ledger[p.source_id]["state"] in ("pending", "failed")]
    ctx.plan([PhasePlan(first, UNCOUNTED, guess, 1.0),
              PhasePlan(REPAIRING, "posts", 0.1, float(len(posts)))])
    done = len(posts) - len(todo)
    ctx.report(f"Repaired {done} of {len(posts)} posts", phase=REPAIRING, done=done,
               total=len(posts))
    if todo:
        async with WordPressClient.from_config(ctx.config) as wp:
            cache = MediaCache(ctx.config, ctx.backend.media, ctx.http)
            captions = ReadCaptions(ctx)
            for post_type, group in _by_post_type(todo, mappings).items():
                try:
                    route = await wp.post_type_route(post_type)
                except JOB_LEVEL_FAULTS:
                    raise
                except IgbridgeError as exc:  # a post type gone since the import
                    await ctx.set_items([ItemOutcome(p.source_id, ItemState.FAILED,
                                                     reason=exc.message) for p in group])
                    done += len(group)
                    continue
                for start in range(0, len(group), LOOKUP_IDS):
                    chunk = group[start:start + LOOKUP_IDS]
                    found = await wp.find_posts_by_source_ids([p.source_id for p in chunk],
                                                              route=route)
                    unknown = [p.source_id for p in chunk if p.source_id not in found]
                    deleted = await wp.find_deleted_source_ids(unknown) if unknown else set()
                    for post in chunk:
                        repair = PostRepair(ctx, wp, cache, captions, post,
                                            Mapping.from_json(mappings[post.source_id]), route)
                        outcome = await repair.run(found.get(post.source_id),
                                                   post.source_id in deleted)
                        await ctx.set_items([outcome])
                        done += 1
                        ctx.report(f"Repaired {done} of {len(posts)} posts", phase=REPAIRING,
                                   done=done)
    return repair_message(await ctx.items())


async def _source_posts(ctx: JobContext) -> tuple[list[Post], dict[str, Any]]:
    """The saved source's posts as the source has them now, all with its mapping."""
    posts, _skipped = await fetch_source(ctx)
    mapping = ctx.options.get("mapping") or {}
    return posts, {p.source_id: mapping for p in posts}


async def _site_posts(ctx: JobContext) -> tuple[list[Post], dict[str, Any]]:
    """Every post an import or sync of this sidecar brought into WordPress, as the newest
    job that read it (a repair reads its source afresh) had it, with that job's mapping;
    kept in the job's state for a resume."""
    if "posts" in ctx.state:
        return [Post.from_json(p) for p in ctx.state["posts"]], dict(ctx.state["mappings"])
    ctx.report("Reading what was imported", phase=GATHERING)
    jobs = [j for j in await ctx.jobs.find(limit=SITE_JOB_LIMIT)
            if j["kind"] in (*SITE_JOB_KINDS, "repair") and (j.get("state") or {}).get("posts")]
    items = await ctx.ledger.items_of([j["job_id"] for j in jobs if j["kind"] in SITE_JOB_KINDS])
    in_wordpress = {i["source_id"] for job_items in items.values() for i in job_items
                    if i["state"] in (ItemState.IMPORTED, ItemState.ALREADY_IMPORTED)}
    posts: dict[str, Post] = {}
    mappings: dict[str, Any] = {}
    for job in jobs:  # newest first: the newest job's word on a post wins
        for data in job["state"]["posts"]:
            post = Post.from_json(data)
            if post.source_id in in_wordpress and post.source_id not in posts:
                posts[post.source_id] = post
                mappings[post.source_id] = (job.get("options") or {}).get("mapping") or {}
    found = sorted(posts.values(), key=lambda p: p.taken_at, reverse=True)
    await ctx.save_state(posts=[p.to_json() for p in found], mappings=mappings)
    return found, mappings


def _by_post_type(posts: list[Post], mappings: dict[str, Any]) -> dict[str, list[Post]]:
    groups: dict[str, list[Post]] = {}
    for post in posts:
        groups.setdefault(Mapping.from_json(mappings[post.source_id]).post_type, []).append(post)
    return groups


def media_ids_in(content: str) -> list[int]:
    """The attachment ids of the content's image and video blocks, in order."""
    ids = []
    for match in MEDIA_BLOCK.finditer(content):
        with_id = _block_attrs(match[2]).get("id")
        if isinstance(with_id, int) and with_id > 0:
            ids.append(with_id)
    return ids


def point_at(content: str, renewed: dict[int, UploadedMedia]) -> str:
    """``content`` with each block of a replaced attachment pointing at its new one: the
    block's ``id``, its ``wp-image-N`` class and its file's address; everything else in
    the block (a caption written in WordPress, a link) stays."""
    def replace(match: re.Match[str]) -> str:
        attrs = _block_attrs(match[2])
        old_id = attrs.get("id")
        new = renewed.get(old_id) if isinstance(old_id, int) else None
        if new is None:
            return match[0]
        attrs["id"] = new.wp_id
        inner = re.sub(r'src="[^"]*"', lambda _m: f'src="{_attr(new.url)}"', match[3], count=1)
        inner = inner.replace(f"wp-image-{old_id}", f"wp-image-{new.wp_id}")
        return (f"<!-- wp:{match[1]} {json.dumps(attrs, separators=(',', ':'))} -->"
                f"{inner}<!-- /wp:{match[1]} -->")

    return MEDIA_BLOCK.sub(replace, content)


def _block_attrs(text: str) -> dict[str, Any]:
    try:
        attrs = json.loads(text)
    except ValueError:
        return {}
    return attrs if isinstance(attrs, dict) else {}


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;")


@dataclass
class ReadCaptions:
    """The posts earlier imports and syncs read (kept in their jobs' state), to know the
    title the import made from a caption it no longer has: read once, when first asked."""

    ctx: JobContext
    jobs: list[dict[str, Any]] | None = None

    async def title_from(self, source_id: str, caption_hash: str) -> str | None:
        """The title the newest import or sync that read this post with the caption of
        ``caption_hash`` made of it (with that job's mapping); None when none did."""
        if self.jobs is None:
            self.jobs = [j for j in await self.ctx.jobs.find(limit=SITE_JOB_LIMIT)
                         if j["kind"] in SITE_JOB_KINDS and (j.get("state") or {}).get("posts")]
        for job in self.jobs:  # newest first
            for data in job["state"]["posts"]:
                if (data.get("source_id") == source_id
                        and content_hash(str(data.get("caption") or "")) == caption_hash):
                    mapping = Mapping.from_json((job.get("options") or {}).get("mapping"))
                    return mapping.stored_title(Post.from_json(data))
        return None


@dataclass
class PostRepair:
    """One post's repair: what is missing, what changed, and the one update that fixes it."""

    ctx: JobContext
    wp: WordPressClient
    cache: MediaCache
    captions: ReadCaptions
    post: Post
    mapping: Mapping
    route: str
    notes: list[str] = field(default_factory=list)

    async def run(self, found: Json | None, deleted: bool) -> ItemOutcome:
        source_id = self.post.source_id
        if found is None:
            return ItemOutcome(source_id, ItemState.SKIPPED, reason=(
                "deleted in WordPress: left deleted" if deleted
                else "not in WordPress: nothing to repair"))
        post_id = int(found["id"])
        if found.get("status") == "trash":
            return ItemOutcome(source_id, ItemState.SKIPPED, post_id,
                               reason="in the trash: left as is")
        try:
            return await self._repair(post_id, found)
        except JOB_LEVEL_FAULTS:
            raise  # WordPress is down or refuses us: the job's attempts take over
        except IgbridgeError as exc:
            return ItemOutcome(source_id, ItemState.FAILED, post_id, reason=exc.message)

    async def _repair(self, post_id: int, found: Json) -> ItemOutcome:
        source_id = self.post.source_id
        current = await self.wp.get_post(post_id, route=self.route)
        content = str((current.get("content") or {}).get("raw") or "")
        raw_meta = current.get("meta")  # WordPress answers [] when a post has none
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        referenced = media_ids_in(content)
        present = await self.wp.media_present(referenced) if referenced else set()
        missing = [i for i in referenced if i not in present]
        imported, caption = meta.get(CONTENT_HASH_META), meta.get(CAPTION_HASH_META)
        edited = not imported or content_hash(content) != imported
        caption_changed = bool(caption) and caption != content_hash(self.post.caption)
        if not caption:
            self.notes.append(NO_HASHES)
        link = str(found.get("link") or "") or None
        if not missing and not caption_changed:
            return ItemOutcome(source_id, ItemState.ALREADY_IMPORTED, post_id,
                               reason="; ".join([NOTHING_TO_DO, *self.notes]), post_url=link)
        fields: dict[str, Any] = {}
        renewed: dict[int, UploadedMedia] = {}
        rewrite = False  # the whole content written anew, as the import would now
        if missing or not edited:
            uploaded, renewed = await self._media(post_id, referenced, set(missing))
            # Never written anew without every media: that would drop one from the post.
            rewrite = not edited and all(m is not None for m in uploaded)
            if rewrite:
                rendered = self.mapping.render(self.post, [m for m in uploaded if m])
                fields = {"content": rendered.content,
                          "meta": imported_hashes(self.post, rendered.content)}
                if rendered.featured is not None:
                    fields["featured_media"] = rendered.featured.wp_id
            else:
                fields = self._pointed_at(current, content, referenced, renewed)
        title, title_said = (await self._new_title(current, meta) if caption_changed
                             else (None, None))
        if title is not None:
            fields["title"] = title
            fields["meta"] = {**fields.get("meta", {}), TITLE_HASH_META: content_hash(title)}
        unmatched = [i for i in missing if i not in renewed]
        done = []
        if renewed:
            done.append(f"repaired media: {len(renewed)} re-uploaded")
        if caption_changed:
            done.append(CAPTION_UPDATED if rewrite else EDITED if edited else MEDIA_LOST)
        if title_said:
            done.append(title_said)
        if unmatched:
            self.notes.append("attachment " + ", ".join(map(str, unmatched))
                              + " is gone and no file of the post could replace it")
        if fields:
            answer = await self.wp.update_post(post_id, route=self.route,
                                               answer="id,title" if title else "id", **fields)
            stored = stored_title_of(answer, title) if title is not None else None
            if stored is not None and stored != title:  # WordPress filtered it: hash its own
                await self.wp.update_post(post_id, route=self.route, answer="id",
                                          meta={TITLE_HASH_META: content_hash(stored)})
            # The post points at the stand-ins now: the broken records can go.
            for old in renewed:
                said = await self._drop_broken(old)
                if said:
                    done.append(said)
        repaired = bool(renewed) or (caption_changed and rewrite) or title is not None
        state = (ItemState.FAILED if unmatched and not repaired
                 else ItemState.IMPORTED if repaired else ItemState.SKIPPED)
        return ItemOutcome(source_id, state, post_id, reason="; ".join(done + self.notes),
                           post_url=link)

    async def _media(self, post_id: int, referenced: list[int], missing: set[int],
                     ) -> tuple[list[UploadedMedia | None], dict[int, UploadedMedia]]:
        """The post's media as WordPress has them after this repair, in the post's order
        (None for a file that could not be had), and each missing attachment's stand-in.

        A missing attachment is known by the upload index (which file became it) or,
        failing that, by its place among the post's media blocks."""
        site = self.ctx.config.wp_url
        uploaded: list[UploadedMedia | None] = []
        renewed: dict[int, UploadedMedia] = {}
        for index, media in enumerate(self.post.media):
            try:
                cached: CachedMedia = await fetch_media(self.ctx, self.cache, self.post, media)
            except MediaError as exc:
                self.notes.append(f"media {index + 1} could not be had from the cache or the "
                                  f"source: {exc.message}")
                uploaded.append(None)
                continue
            known = await self.ctx.backend.media.uploaded(site, cached.sha256)
            gone = known is not None and known[0] in missing
            if gone and known is not None:
                await self.ctx.backend.media.forget_uploaded(site, [known[0]])
            # A name of this repair's own: where the broken attachment's file is gone,
            # WordPress would give the new one that very name, and deleting the broken
            # record (which deletes its file) would take the new file with it.
            new = await upload_once(self.ctx, self.wp, self.cache, self.post, media, index,
                                    post_id, cached, name_suffix=f"-r{self.ctx.job_id[:8]}")
            if gone and known is not None:
                renewed[known[0]] = new
            uploaded.append(new)
        if len(referenced) == len(uploaded):  # one block per media: their places match
            for old, new_media in zip(referenced, uploaded, strict=True):
                if old in missing and old not in renewed and new_media is not None:
                    renewed[old] = new_media
        return uploaded, renewed

    async def _new_title(self, current: Json, meta: dict[str, Any],
                         ) -> tuple[str | None, str | None]:
        """The title the changed caption makes, where the post's title is still the one
        the import wrote, and what the item says of the title (None: nothing to say)."""
        if not self.mapping.title_follows_caption:
            return None, None
        written = str((current.get("title") or {}).get("raw") or "")
        title = self.mapping.stored_title(self.post)
        if title == written:
            return None, None
        imported = meta.get(TITLE_HASH_META)
        if imported:
            as_imported = content_hash(written) == imported
        else:  # imported before the title's hash was kept: what the old caption made
            old = await self.captions.title_from(self.post.source_id,
                                                 str(meta.get(CAPTION_HASH_META) or ""))
            if old is None:
                return None, TITLE_UNKNOWN
            as_imported = old == written
        return (title, TITLE_UPDATED) if as_imported else (None, TITLE_EDITED)

    async def _drop_broken(self, media_id: int) -> str | None:
        """Delete a replaced attachment whose record outlived its file, if igbridge
        uploaded it and no post uses it (the repaired one included: it no longer should);
        what the item says of it. A failure leaves the record: the post is repaired."""
        left = f"broken attachment {media_id} left in the media library: "
        try:
            found = await self.wp.get_media(media_id, answer="id,meta,source_url")
            if found is None:
                return None  # deleted from the library: nothing left behind
            meta = found.get("meta")
            if not (isinstance(meta, dict) and meta.get(MEDIA_OF_META)):
                return left + ("not tagged as igbridge's (uploaded in WordPress, or by an "
                               "igbridge that did not tag its uploads yet)")
            # Deleting the record deletes its file: only a file surely gone.
            url = str(found.get("source_url") or "")
            if not url or not await self.wp.file_gone(url):
                return left + "its file is not known to be gone"
            uses = await self.wp.media_uses(media_id)
            if uses is None:
                return left + "the igbridge plugin is too old to tell which posts use it"
            if uses.post_ids:
                return left + "used by post " + ", ".join(map(str, uses.post_ids))
            if uses.same_file_ids:  # deleting it would delete their file
                return left + "its file name is that of attachment " + ", ".join(
                    map(str, uses.same_file_ids))
            await self.wp.delete_media(media_id)
        except IgbridgeError as exc:  # refused, or WordPress gone: not the repair's failure
            return left + exc.message
        await self.ctx.backend.media.forget_uploaded(self.ctx.config.wp_url, [media_id])
        return f"broken attachment {media_id} deleted"

    def _pointed_at(self, current: Json, content: str, referenced: list[int],
                    renewed: dict[int, UploadedMedia]) -> dict[str, Any]:
        """For an edited post: its own content, the replaced attachments swapped in."""
        fields: dict[str, Any] = {}
        new_content = point_at(content, renewed)
        if new_content != content:
            fields["content"] = new_content
        featured = int(current.get("featured_media") or 0)
        if featured in renewed:
            fields["featured_media"] = renewed[featured].wp_id
        elif (featured == 0 and self.mapping.featured == "first" and referenced
              and referenced[0] in renewed and renewed[referenced[0]].kind == "image"):
            # WordPress drops a deleted attachment from the posts it featured.
            fields["featured_media"] = renewed[referenced[0]].wp_id
        return fields


def repair_message(ledger: dict[str, dict[str, Any]]) -> str:
    """The closing words: how many posts were repaired, left, fine, failed."""
    def count(state: ItemState) -> int:
        return sum(1 for i in ledger.values() if i["state"] == state)

    parts = [f"Repaired {count(ItemState.IMPORTED)} posts"]
    for state, words in ((ItemState.ALREADY_IMPORTED, "needed nothing"),
                         (ItemState.SKIPPED, "left as is"), (ItemState.FAILED, "failed")):
        if count(state):
            parts.append(f"{count(state)} {words}")
    return "; ".join(parts)
