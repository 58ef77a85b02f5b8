"""SQLite schema, migrations and every query.

One file under the data dir, WAL mode: one writer connection (all writes go
through it, serialized by ``Store.write_lock`` so a batch is one transaction) and
one reader connection, so replaying a stream never waits behind a commit.
Functions take the connection first and keep their SQL next to the code that
depends on its shape.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from ...errors import StorageError

SCHEMA_VERSION = 1
VACUUM_PAGES_PER_STEP = 256  # pages freed per step of reclaim_space (1 MiB at 4 KiB)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id    TEXT PRIMARY KEY,
    operation     TEXT NOT NULL,
    status        TEXT NOT NULL,
    snapshot      TEXT NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    finished_at   REAL,
    last_event_id INTEGER NOT NULL DEFAULT 0,
    compacted     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_created ON sessions (created_at);
CREATE INDEX IF NOT EXISTS sessions_by_finished ON sessions (finished_at);
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events (session_id, id);
CREATE TABLE IF NOT EXISTS jobs (
    job_id       TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    source       TEXT NOT NULL,
    options      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    state        TEXT NOT NULL DEFAULT '{}',
    owner        TEXT,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    heartbeat_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
CREATE TABLE IF NOT EXISTS items (
    job_id     TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    position   INTEGER NOT NULL DEFAULT 0,
    state      TEXT NOT NULL,
    wp_post_id INTEGER,
    reason     TEXT,
    detail     TEXT,
    updated_at REAL NOT NULL,
    post_url   TEXT,
    thumbnail_url TEXT,
    caption_excerpt TEXT,
    taken_at   TEXT,
    PRIMARY KEY (job_id, source_id)
);
CREATE INDEX IF NOT EXISTS items_by_source ON items (source_id, state);
CREATE INDEX IF NOT EXISTS items_by_position ON items (job_id, position, source_id);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at, job_id);
CREATE TABLE IF NOT EXISTS media (
    sha256       TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    source_url   TEXT,
    created_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS media_urls (
    url    TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    source_id       TEXT PRIMARY KEY,
    spec            TEXT NOT NULL,
    mapping         TEXT NOT NULL,
    every_minutes   INTEGER,
    paused          INTEGER NOT NULL DEFAULT 0,
    next_run_at     REAL,
    last_sync       TEXT,
    newest_taken_at REAL,
    reachable       INTEGER NOT NULL DEFAULT 0,
    sync_job_id     TEXT,
    sync_claimed_at REAL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_by_next_run ON sources (next_run_at);
CREATE TABLE IF NOT EXISTS wp_media (
    site        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    wp_media_id INTEGER NOT NULL,
    wp_url      TEXT NOT NULL,
    PRIMARY KEY (site, sha256)
);
"""


@dataclass
class Store:
    """The two connections to one database file."""

    path: Path
    writer: aiosqlite.Connection
    reader: aiosqlite.Connection
    # For checkpoints: on its own connection they never queue behind, or hold up, a commit.
    maintenance: aiosqlite.Connection
    # Every write goes through ``write`` under this lock, so a transaction on the
    # shared writer connection never interleaves with another coroutine's.
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = await aiosqlite.connect(path, isolation_level=None)
            # Set before the first table exists (it only takes effect then): compaction
            # can then hand the freed pages back to the file system.
            await writer.execute("PRAGMA auto_vacuum=INCREMENTAL")
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=NORMAL")
            await writer.execute("PRAGMA busy_timeout=5000")
            await _add_missing_columns(writer)
            await writer.executescript(SCHEMA)
            await writer.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=ON")
            maintenance = await aiosqlite.connect(path, isolation_level=None)
            await maintenance.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {path}: {exc}") from exc
        writer.row_factory = aiosqlite.Row
        reader.row_factory = aiosqlite.Row
        return cls(path=path, writer=writer, reader=reader, maintenance=maintenance)

    async def close(self) -> None:
        await self.maintenance.close()
        await self.reader.close()
        await self.writer.close()

    async def write(
        self,
        statements: Sequence[tuple[str, Sequence[Any]]],
        many: Sequence[tuple[str, Iterable[Sequence[Any]]]] = (),
    ) -> None:
        """One transaction: ``statements`` each once, then ``many`` with executemany."""
        async with self.write_lock:
            await _transaction(self.writer, statements, many)


# Columns added after a table first shipped: a data dir from an older version gets them.
ADDED_COLUMNS = {
    "items": ("post_url TEXT", "thumbnail_url TEXT", "caption_excerpt TEXT", "taken_at TEXT"),
}


async def _add_missing_columns(conn: aiosqlite.Connection) -> None:
    for table, columns in ADDED_COLUMNS.items():
        rows = await conn.execute_fetchall(f"PRAGMA table_info({table})")
        present = {str(row[1]) for row in rows}
        if not present:
            continue  # a new database: the schema creates the table whole
        for column in columns:
            if column.split()[0] not in present:
                await conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


async def _transaction(
    conn: aiosqlite.Connection,
    statements: Sequence[tuple[str, Sequence[Any]]],
    many: Sequence[tuple[str, Iterable[Sequence[Any]]]],
) -> None:
    try:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                await conn.execute(sql, params)
            for sql, rows in many:
                await conn.executemany(sql, rows)
            await conn.execute("COMMIT")
        except BaseException:
            # On SQLITE_FULL (and a few other errors) SQLite has already rolled back;
            # a second ROLLBACK would replace the real error with "no transaction".
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StorageError(f"could not write to the database: {exc}") from exc


async def all_rows(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    """Run a query and fetch every row in one call on the connection's thread.

    A cursor left open between awaits keeps its statement, and so its WAL snapshot,
    alive: every later read on the shared reader connection would see the database
    as it was then (a job just written would be "not found"). Nothing stays open here.
    """
    return list(await conn.execute_fetchall(sql, params))


async def first_row(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> sqlite3.Row | None:
    found = await all_rows(conn, sql, params)
    return found[0] if found else None


def now() -> float:
    return time.time()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- sessions and events -------------------------------------------------------


async def max_event_id(conn: aiosqlite.Connection) -> int:
    row = await first_row(conn, "SELECT COALESCE(MAX(id), 0) FROM events")
    kept = await first_row(conn, "SELECT value FROM meta WHERE key = 'last_event_id'")
    # Compaction may delete the newest rows of old sessions; ids must never be reused.
    return max(int(row[0]) if row else 0, int(kept[0]) if kept else 0)


async def fetch_session(conn: aiosqlite.Connection, session_id: str) -> dict[str, Any] | None:
    row = await first_row(conn, "SELECT snapshot FROM sessions WHERE session_id = ?", (session_id,))
    return json.loads(row[0]) if row else None


async def fetch_sessions_by_id(
    conn: aiosqlite.Connection, session_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The snapshots of those of ``session_ids`` that exist, in one query."""
    if not session_ids:
        return {}
    rows = await all_rows(
        conn,
        f"SELECT session_id, snapshot FROM sessions WHERE session_id IN"
        f" ({','.join('?' * len(session_ids))})",
        list(session_ids),
    )
    return {str(r[0]): json.loads(r[1]) for r in rows}


async def fetch_sessions(
    conn: aiosqlite.Connection,
    *,
    status: str | None,
    limit: int,
    before: float | None,
    only: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    sql = "SELECT snapshot FROM sessions WHERE 1=1"
    params: list[Any] = []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if before is not None:
        sql += " AND created_at < ?"
        params.append(before)
    if only is not None:
        sql += f" AND session_id IN ({','.join('?' * len(only))})"
        params.extend(sorted(only))
    sql += " ORDER BY created_at DESC, session_id DESC LIMIT ?"
    params.append(limit)
    rows = await all_rows(conn, sql, params)
    return [json.loads(r[0]) for r in rows]


async def fetch_active_session_ids(conn: aiosqlite.Connection) -> list[str]:
    rows = await all_rows(
        conn,
        "SELECT session_id FROM sessions WHERE status IN ('starting', 'running')"
        " ORDER BY created_at",
    )
    return [r[0] for r in rows]


async def fetch_events_after(
    conn: aiosqlite.Connection,
    after_id: int,
    session_ids: Sequence[str] | None,
    limit: int = 1000,
    *,
    with_job_events: bool = True,
) -> list[tuple[int, str, str, str]]:
    """(id, session_id, type, data) of stored events after ``after_id``, oldest first.

    Job lifecycle events (type ``job``) belong to the all-sessions stream only: a stream
    of named sessions asks ``with_job_events=False``."""
    only_progress = "" if with_job_events else " AND type != 'job'"
    if session_ids is None:
        sql = (f"SELECT id, session_id, type, data FROM events WHERE id > ?{only_progress}"
               " ORDER BY id LIMIT ?")
        params: list[Any] = [after_id, limit]
    else:
        if not session_ids:
            return []
        marks = ",".join("?" * len(session_ids))
        sql = (
            f"SELECT id, session_id, type, data FROM events WHERE session_id IN ({marks})"
            f" AND id > ?{only_progress} ORDER BY id LIMIT ?"
        )
        params = [*session_ids, after_id, limit]
    rows = await all_rows(conn, sql, params)
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


async def sessions_to_compact(conn: aiosqlite.Connection, cutoff: float) -> list[str]:
    rows = await all_rows(
        conn,
        "SELECT session_id FROM sessions WHERE compacted = 0 AND finished_at IS NOT NULL"
        " AND finished_at < ? ORDER BY finished_at",
        (cutoff,),
    )
    return [str(r[0]) for r in rows]


def compaction_statements(session_ids: Sequence[str]) -> list[tuple[str, Sequence[Any]]]:
    """Drop the fine-grained events of these finished sessions.

    The final snapshot (sessions row) and each session's last (terminal) event stay.
    """
    marks = ",".join("?" * len(session_ids))
    return [
        (
            # Ids must never be reused: remember the highest before anything goes.
            "INSERT INTO meta (key, value) SELECT 'last_event_id', COALESCE(MAX(id), 0)"
            " FROM events WHERE true ON CONFLICT(key) DO UPDATE SET value ="
            " MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (),
        ),
        (
            f"DELETE FROM events WHERE session_id IN ({marks}) AND id NOT IN"
            f" (SELECT last_event_id FROM sessions WHERE session_id IN ({marks}))",
            (*session_ids, *session_ids),
        ),
        (f"UPDATE sessions SET compacted = 1 WHERE session_id IN ({marks})", tuple(session_ids)),
    ]


# -- jobs and items ------------------------------------------------------------


JOB_COLUMNS = (
    "job_id, session_id, kind, source, options, status, attempts, error, state, owner,"
    " created_at, started_at, finished_at, heartbeat_at"
)


def job_from_row(row: Any) -> dict[str, Any]:
    job = dict(row)
    for key in ("source", "options", "state"):
        job[key] = json.loads(job[key]) if job[key] else {}
    return job


async def fetch_job(conn: aiosqlite.Connection, job_id: str) -> dict[str, Any] | None:
    row = await first_row(conn, f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
    return job_from_row(row) if row else None


async def fetch_jobs_starting_with(
    conn: aiosqlite.Connection, prefix: str, limit: int
) -> list[dict[str, Any]]:
    """Jobs whose id starts with ``prefix`` (any case: ids are lowercase hex), by id."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await all_rows(
        conn, f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id LIKE ? ESCAPE '\\'"
        " ORDER BY job_id LIMIT ?", (pattern, limit))
    return [job_from_row(r) for r in rows]


async def fetch_job_id_neighbours(
    conn: aiosqlite.Connection, job_id: str
) -> tuple[str | None, str | None]:
    """The ids just before and just after ``job_id`` in id order: the only ones that can
    share a longer prefix with it."""
    row = await first_row(
        conn, "SELECT (SELECT MAX(job_id) FROM jobs WHERE job_id < ?),"
        " (SELECT MIN(job_id) FROM jobs WHERE job_id > ?)", (job_id, job_id))
    return (row[0], row[1]) if row else (None, None)


async def fetch_jobs(
    conn: aiosqlite.Connection,
    *,
    status: str | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 50,
    before: float | None = None,
) -> list[dict[str, Any]]:
    sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE 1=1"
    params: list[Any] = []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if statuses:
        sql += f" AND status IN ({','.join('?' * len(statuses))})"
        params.extend(statuses)
    if before is not None:
        sql += " AND created_at < ?"
        params.append(before)
    sql += " ORDER BY created_at DESC, job_id DESC LIMIT ?"
    params.append(limit)
    rows = await all_rows(conn, sql, params)
    return [job_from_row(r) for r in rows]


async def fetch_jobs_page(
    conn: aiosqlite.Connection,
    *,
    status: str | None,
    limit: int,
    after: tuple[float, str] | None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` jobs, newest first, after the (created_at, job_id) of ``after``."""
    sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE 1=1"
    params: list[Any] = []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if after is not None:
        sql += " AND (created_at < ? OR (created_at = ? AND job_id < ?))"
        params.extend((after[0], after[0], after[1]))
    sql += " ORDER BY created_at DESC, job_id DESC LIMIT ?"
    params.append(limit)
    return [job_from_row(r) for r in await all_rows(conn, sql, params)]


ITEM_COLUMNS = ("source_id, state, wp_post_id, reason, detail, post_url, thumbnail_url,"
                " caption_excerpt, taken_at")


def _item_from_row(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["detail"] = json.loads(item["detail"]) if item["detail"] else None
    return item


async def fetch_items(conn: aiosqlite.Connection, job_id: str) -> list[dict[str, Any]]:
    return (await fetch_items_of_jobs(conn, [job_id]))[job_id]


async def fetch_items_of_jobs(
    conn: aiosqlite.Connection, job_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each job's items in ledger order, for several jobs in one query."""
    found: dict[str, list[dict[str, Any]]] = {job_id: [] for job_id in job_ids}
    if not job_ids:
        return found
    rows = await all_rows(
        conn,
        f"SELECT job_id, {ITEM_COLUMNS} FROM items"
        f" WHERE job_id IN ({','.join('?' * len(job_ids))})"
        " ORDER BY job_id, position, source_id",
        list(job_ids),
    )
    for r in rows:
        item = _item_from_row(r)
        found[item.pop("job_id")].append(item)
    return found


async def fetch_items_page(
    conn: aiosqlite.Connection, job_id: str, *, limit: int, after: tuple[int, str] | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` of a job's items in ledger order, after (position, source_id)."""
    sql = f"SELECT position, {ITEM_COLUMNS} FROM items WHERE job_id = ?"
    params: list[Any] = [job_id]
    if after is not None:
        sql += " AND (position > ? OR (position = ? AND source_id > ?))"
        params.extend((after[0], after[0], after[1]))
    sql += " ORDER BY position, source_id LIMIT ?"
    params.append(limit)
    return [_item_from_row(r) for r in await all_rows(conn, sql, params)]


async def fetch_item_counts(
    conn: aiosqlite.Connection, job_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Each job's number of items in each state it has: one query for any number of jobs."""
    counts: dict[str, dict[str, int]] = {j: {} for j in job_ids}
    if not job_ids:
        return counts
    marks = ",".join("?" * len(job_ids))
    for job_id, state, n in await all_rows(
        conn,
        f"SELECT job_id, state, COUNT(*) FROM items WHERE job_id IN ({marks})"
        " GROUP BY job_id, state",
        list(job_ids),
    ):
        counts[job_id][str(state)] = int(n)
    return counts


async def fetch_session_snapshots(
    conn: aiosqlite.Connection, session_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The stored snapshots of these sessions, by id: one query."""
    if not session_ids:
        return {}
    marks = ",".join("?" * len(session_ids))
    rows = await all_rows(
        conn, f"SELECT session_id, snapshot FROM sessions WHERE session_id IN ({marks})",
        list(session_ids),
    )
    return {str(r[0]): json.loads(r[1]) for r in rows}


async def fetch_finished_source_ids(
    conn: aiosqlite.Connection, source_ids: Sequence[str]
) -> set[str]:
    """Which of ``source_ids`` some job imported to the end (a draft it left is final)."""
    if not source_ids:
        return set()
    marks = ",".join("?" * len(source_ids))
    rows = await all_rows(
        conn, f"SELECT DISTINCT source_id FROM items WHERE source_id IN ({marks})"
        " AND state = 'imported'", list(source_ids))
    return {str(r[0]) for r in rows}


# -- media -----------------------------------------------------------------------


async def fetch_media_by_sha256(conn: aiosqlite.Connection, sha256: str) -> dict[str, Any] | None:
    row = await first_row(
        conn, "SELECT sha256, path, content_type, size FROM media WHERE sha256 = ?", (sha256,))
    return dict(row) if row else None


async def fetch_media_by_url(conn: aiosqlite.Connection, url: str) -> dict[str, Any] | None:
    row = await first_row(
        conn,
        "SELECT m.sha256, m.path, m.content_type, m.size FROM media_urls u"
        " JOIN media m ON m.sha256 = u.sha256 WHERE u.url = ?",
        (url,),
    )
    return dict(row) if row else None


async def fetch_wp_media(
    conn: aiosqlite.Connection, site: str, sha256: str
) -> tuple[int, str] | None:
    row = await first_row(
        conn,
        "SELECT wp_media_id, wp_url FROM wp_media WHERE site = ? AND sha256 = ?",
        (site, sha256),
    )
    return (int(row[0]), str(row[1])) if row else None


async def record_wp_media(store: Store, site: str, sha256: str, wp_media_id: int, url: str) -> None:
    await store.write([(
        "INSERT OR REPLACE INTO wp_media (site, sha256, wp_media_id, wp_url)"
        " VALUES (?, ?, ?, ?)", (site, sha256, wp_media_id, url),
    )])


async def forget_wp_media(store: Store, site: str, wp_media_ids: Sequence[int]) -> None:
    """Attachments gone from WordPress: the next upload of their files makes new ones."""
    if wp_media_ids:
        await store.write([(
            f"DELETE FROM wp_media WHERE site = ? AND wp_media_id IN "
            f"({','.join('?' * len(wp_media_ids))})", (site, *wp_media_ids),
        )])


async def record_media(
    store: Store, files: Sequence[tuple[str, str, str, int, str | None]]
) -> None:
    """Cached files ``(sha256, path, content_type, size, source url or None)`` and the
    URLs they came from, in one transaction."""
    now_ = now()
    await store.write([], [
        ("INSERT OR IGNORE INTO media (sha256, path, content_type, size, source_url,"
         " created_at) VALUES (?, ?, ?, ?, ?, ?)",
         [(sha256, path, content_type, size, url, now_)
          for sha256, path, content_type, size, url in files]),
        ("INSERT OR REPLACE INTO media_urls (url, sha256) VALUES (?, ?)",
         [(url, sha256) for sha256, _path, _type, _size, url in files if url]),
    ])


# -- writing jobs and items ----------------------------------------------------------


async def insert_job(
    store: Store, job_id: str, session_id: str, kind: str, source: Any, options: Any,
    state: Any,
) -> None:
    await store.write([(
        "INSERT INTO jobs (job_id, session_id, kind, source, options, status, state,"
        " created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
        (job_id, session_id, kind, dumps(source), dumps(options), dumps(state), now()),
    )])


async def start_attempt(store: Store, job_id: str, attempt: int, owner: str) -> None:
    await store.write([(
        "UPDATE jobs SET status = 'running', attempts = ?, owner = ?,"
        " started_at = COALESCE(started_at, ?), heartbeat_at = ? WHERE job_id = ?",
        (attempt, owner, now(), now(), job_id),
    )])


async def record_job_end(store: Store, job_id: str, status: str, error: str | None) -> None:
    await store.write([(
        # Only a job that has not ended: the first end wins (a late cancel never
        # overwrites "complete", nor the reverse).
        "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE job_id = ?"
        " AND status NOT IN ('complete', 'error', 'cancelled')",
        (status, error, now(), job_id),
    )])


async def record_heartbeat(store: Store, job_ids: Sequence[str]) -> None:
    marks = ",".join("?" * len(job_ids))
    await store.write([(
        f"UPDATE jobs SET heartbeat_at = ? WHERE status = 'running' AND job_id IN ({marks})",
        (now(), *job_ids),
    )])


async def save_job_state(store: Store, job_id: str, state: Any) -> None:
    await store.write([("UPDATE jobs SET state = ? WHERE job_id = ?", (dumps(state), job_id))])


async def add_pending_items(
    store: Store, job_id: str, items: Sequence[tuple[str, str | None, str | None]]
) -> None:
    """Register a job's items ``(source_id, caption_excerpt, taken_at)`` as ``pending``,
    in this order; existing rows stay."""
    now_ = now()
    await store.write([], [(
        "INSERT OR IGNORE INTO items (job_id, source_id, position, state, updated_at,"
        " caption_excerpt, taken_at) VALUES (?, ?, ?, 'pending', ?, ?, ?)",
        [(job_id, sid, pos, now_, excerpt, taken_at)
         for pos, (sid, excerpt, taken_at) in enumerate(items)],
    )])


async def record_items(
    store: Store, job_id: str,
    outcomes: Sequence[tuple[str, str, int | None, str | None, Any, str | None, str | None]],
) -> None:
    """Items' ``(source_id, state, wp_post_id, reason, detail, post_url, thumbnail_url)``
    in one transaction; a new item goes after the job's existing ones. A link already
    known stays when an outcome does not carry one."""
    now_ = now()
    await store.write([], [(
        "INSERT INTO items (job_id, source_id, position, state, wp_post_id, reason, detail,"
        " updated_at, post_url, thumbnail_url)"
        " VALUES (?, ?, (SELECT COUNT(*) FROM items WHERE job_id = ?), ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(job_id, source_id) DO UPDATE SET state = excluded.state,"
        " wp_post_id = excluded.wp_post_id, reason = excluded.reason,"
        " detail = excluded.detail, updated_at = excluded.updated_at,"
        " post_url = COALESCE(excluded.post_url, items.post_url),"
        " thumbnail_url = COALESCE(excluded.thumbnail_url, items.thumbnail_url)",
        [(job_id, source_id, job_id, state, wp_post_id, reason,
          dumps(detail) if detail is not None else None, now_, post_url, thumbnail_url)
         for source_id, state, wp_post_id, reason, detail, post_url, thumbnail_url
         in outcomes],
    )])


# -- writing sessions and events -----------------------------------------------------


async def append_events(
    store: Store,
    events: Sequence[tuple[int, str, str, str, float]],
    sessions: Sequence[tuple[str, str, str, str, float, float, float | None, int]],
) -> None:
    """Events ``(id, session_id, type, data, created_at)`` and the sessions rows they
    leave ``(session_id, operation, status, snapshot, created_at, updated_at,
    finished_at, last_event_id)``, in one transaction."""
    await store.write([], [
        ("INSERT INTO events (id, session_id, type, data, created_at)"
         " VALUES (?, ?, ?, ?, ?)", events),
        ("INSERT INTO sessions (session_id, operation, status, snapshot, created_at,"
         " updated_at, finished_at, last_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
         " ON CONFLICT(session_id) DO UPDATE SET status = excluded.status,"
         " snapshot = excluded.snapshot, updated_at = excluded.updated_at,"
         " finished_at = excluded.finished_at,"
         " last_event_id = excluded.last_event_id", sessions),
    ])


async def compact_sessions(store: Store, session_ids: Sequence[str]) -> None:
    await store.write(compaction_statements(session_ids))


async def reclaim_space(store: Store) -> None:
    """Hand freed pages back to the file system and truncate the WAL, in steps short
    enough that progress commits go on between them."""
    while True:
        async with store.write_lock:
            free = await first_row(store.writer, "PRAGMA freelist_count")
            if not free or int(free[0]) == 0:
                break
            # executescript steps the pragma to its end; execute() frees one page.
            await store.writer.executescript(
                f"PRAGMA incremental_vacuum({VACUUM_PAGES_PER_STEP});")
    # Without the write lock: a passive checkpoint copies the WAL while commits go on;
    # the truncating one then only has the last few frames left to copy.
    for mode in ("PASSIVE", "TRUNCATE"):
        await all_rows(store.maintenance, f"PRAGMA wal_checkpoint({mode})")
