"""Small Instagram exports with posts no other test has: unique captions, tiny images.

The WordPress of the test session is shared, and an export post's source id is its
timestamp plus a hash of its caption, so every export here carries a tag of its own.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path
from typing import Any

from sidecar.sample.make_sample import ZIP_DATE, instagram_text, png_bytes


def build_export(path: Path, tag: str, count: int, *, seed: int = 0, size: int = 24,
                 images_per_post: int = 1) -> Path:
    """Write an export ZIP of ``count`` posts to ``path``; each image differs (own hash)."""
    rng = random.Random(f"{tag}/{seed}")
    posts: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    for index in range(count):
        timestamp = 1_700_000_000 + index * 3600
        caption = f"Fault test {tag} post {index} 🌊 #faults"
        uris = []
        for image in range(images_per_post):
            corners = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(4)]
            uri = f"media/posts/202311/{tag}_{index:03d}_{image}.png"
            files[uri] = png_bytes(size, size, corners)  # type: ignore[arg-type]
            uris.append(uri)
        entries = [{"uri": uri, "creation_timestamp": timestamp,
                    "title": instagram_text(caption) if len(uris) == 1 else ""}
                   for uri in uris]
        post: dict[str, Any] = {"media": entries}
        if len(uris) > 1:
            post.update(title=instagram_text(caption), creation_timestamp=timestamp)
        posts.append(post)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("your_instagram_activity/media/posts_1.json", ZIP_DATE),
                         json.dumps(posts, ensure_ascii=True))
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), data)
    path.write_bytes(out.getvalue())
    return path
