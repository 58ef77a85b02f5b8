"""One exception family for the whole sidecar.

Every error a caller can see is an ``IgbridgeError``; the web layer maps it to
``{"error": {"code", "message"}}`` with ``status`` exactly once (see web/app.py).
Jobs use ``retryable`` to tell a passing fault (retry with backoff) from a
final one (fail the job or the item at once).
"""

from __future__ import annotations


class IgbridgeError(Exception):
    """Base of every error the sidecar reports to a person or a client."""

    code = "error"
    status = 500
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(IgbridgeError):
    code = "bad_request"
    status = 400


class ValidationFailed(IgbridgeError):
    code = "validation_error"
    status = 422


class Unauthorized(IgbridgeError):
    code = "unauthorized"
    status = 401


class Forbidden(IgbridgeError):
    code = "forbidden"
    status = 403


class NotFound(IgbridgeError):
    code = "not_found"
    status = 404


class Conflict(IgbridgeError):
    """The request contradicts the current state, e.g. an update after ``complete``."""

    code = "conflict"
    status = 409


class ConfigError(IgbridgeError):
    """A bad ``IGBRIDGE_*`` value: raised at start-up, never late in a job."""

    code = "config_error"
    status = 500


class StorageError(IgbridgeError):
    """The store could not be read or written: SQLite locked, its disk full or
    read-only; Redis unreachable or restarting. A job waits for the store to answer
    again and resumes (``jobs/runner.py``); a request gets a 503."""

    code = "storage_error"
    status = 503


class TransientError(IgbridgeError):
    """A passing fault (5xx, timeout, dropped connection): worth retrying with backoff."""

    code = "transient"
    status = 502
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        # The server's own Retry-After, in seconds: the next wait is at least this long.
        self.retry_after = retry_after


class SourceError(IgbridgeError):
    """A source yielded nothing usable: private account, broken ZIP, failed Apify run."""

    code = "source_error"
    status = 422


class WordPressError(IgbridgeError):
    code = "wordpress_error"
    status = 502


class WordPressAuthError(WordPressError):
    """401/403 from WordPress: the application password is wrong or lacks rights."""

    code = "wordpress_auth"


class MediaError(IgbridgeError):
    """One media item could not be fetched or is not media (per-item, not per-job)."""

    code = "media_error"
    status = 422


class PayloadTooLarge(IgbridgeError):
    """A body past what the route takes: an upload chunk past its file's declared size."""

    code = "too_large"
    status = 413


class InsufficientStorage(IgbridgeError):
    """The data dir's disk cannot take what was sent; nothing of it was kept."""

    code = "disk_full"
    status = 507


# Faults a job's attempts handle (``jobs/runner.py``), never one item's failure: a job
# kind that records per-item failures lets these through.
JOB_LEVEL_FAULTS = (TransientError, WordPressAuthError, StorageError)
