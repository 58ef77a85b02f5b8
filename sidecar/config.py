"""Configuration, read once from ``IGBRIDGE_*`` environment variables (pydantic-settings).

Bad values fail at start-up with a message naming the variable, never late in a job.
An empty variable means its default.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from .errors import ConfigError

DEFAULT_PORT = 8765
SECRET_FILE = "secret"  # noqa: S105 - a file name
PREFIX = "IGBRIDGE_"
# Not settings: what the stream tells a browser to wait before reconnecting, and how
# often running jobs say they are alive.
SSE_RETRY_MS = 2000
JOB_HEARTBEAT_SECONDS = 2.0


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "igbridge"


class Config(BaseSettings):
    """Every setting; each field is the variable ``IGBRIDGE_<NAME>`` (``APIFY_TOKEN``
    keeps its own name), with its bounds."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True,
                                      frozen=True, extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Uploaded exports; unset: <data dir>/uploads, this process's own. Several sidecar
    # processes (the Redis engine) share one by setting it to the same directory.
    uploads_dir: Path | None = None
    secret: str = ""
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0)
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    public_url: str = ""
    wp_url: str = ""
    wp_user: str = ""
    wp_app_password: str = ""
    apify_token: str = Field("", validation_alias="APIFY_TOKEN")
    apify_actor: str = "apify/instagram-scraper"
    apify_api_url: str = "https://api.apify.com"
    # ``sqlite``, or ``redis://host:port/db`` for the Redis engine (issue 13).
    backend: str = "sqlite"
    retention_days: float = Field(30.0, ge=0.0)
    heartbeat_seconds: float = Field(15.0, ge=0.05)
    max_jobs: int = Field(4, ge=1)
    import_concurrency: int = Field(4, ge=1)
    import_batch: int = Field(10, ge=1, le=25)  # WordPress's /batch/v1 takes 25 at most
    download_concurrency: int = Field(6, ge=1)
    media_max_bytes: int = Field(200 * 1024 * 1024, ge=1)
    upload_max_bytes: int = Field(20 * 1024**3, ge=1)  # one file of an uploaded export
    # Uploads never take the disk's last bytes.
    upload_reserve_bytes: int = Field(512 * 1024**2, ge=0)
    job_attempts: int = Field(3, ge=1)
    backoff_base_seconds: float = Field(0.5, ge=0.0, validation_alias="IGBRIDGE_BACKOFF_SECONDS")
    apify_poll_seconds: float = Field(2.0, ge=0.01)

    @field_validator("public_url", "wp_url", "apify_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        origins = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        for origin in origins:
            if not origin.startswith(("http://", "https://")):
                raise ValueError(f"entry {origin!r} must be an http(s) origin")
        return origins

    @field_validator("uploads_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Relative, it would name another directory for a process started elsewhere.
        if value is not None and not value.is_absolute():
            raise ValueError(f"must be an absolute path, got {str(value)!r}")
        return value

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        value = value.strip() or "sqlite"
        if value != "sqlite":
            check_redis_url(value)
        return value

    @property
    def sse_retry_ms(self) -> int:
        return SSE_RETRY_MS

    @property
    def job_heartbeat_seconds(self) -> float:
        return JOB_HEARTBEAT_SECONDS

    @property
    def db_path(self) -> Path:
        return self.data_dir / "igbridge.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def shared_backend(self) -> bool:
        """The Redis engine, shared by several processes (``_backend`` checked the URL)."""
        return self.backend != "sqlite"

    @property
    def uploads_per_process(self) -> str | None:
        """What to say when uploads may not reach the other processes: the Redis engine
        with no IGBRIDGE_UPLOADS_DIR, where each process keeps its own. Said at start-up,
        in /healthz and with every "no upload", not refused: one process on Redis, or
        processes whose data dirs' uploads/ is one shared volume, work as they are."""
        if not self.shared_backend or self.uploads_dir is not None:
            return None
        return ("uploads are kept in this process's own data dir (IGBRIDGE_UPLOADS_DIR is "
                "not set): with several sidecar processes on IGBRIDGE_BACKEND=redis://, set "
                "it to one directory every process shares, or a chunk or an import reaching "
                "another process will not find the upload")

    @property
    def upload_directory(self) -> Path:
        """Where uploads are kept: ``IGBRIDGE_UPLOADS_DIR``, else the data dir's own."""
        return self.uploads_dir or self.data_dir / "uploads"

    def with_overrides(self, **changes: object) -> Config:
        return self.model_copy(update=changes)


def check_redis_url(value: str) -> None:
    """``redis://host:port/db``: anything else is refused with what is wrong (the URL
    itself is not repeated: it may carry a password)."""
    usage = "use 'sqlite' or redis://host:port/db"
    if "://" not in value:
        raise ValueError(f"must be 'sqlite' or redis://host:port/db, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme != "redis":
        raise ValueError(f"names no backend this sidecar has: {parts.scheme}:// ({usage})")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has a port that is not a number from 1 to 65535 ({usage})") from None
    if not parts.hostname:
        raise ValueError(f"has no host ({usage})")
    if port is None or port == 0:
        raise ValueError(f"needs a port from 1 to 65535 ({usage})")
    db = parts.path.removeprefix("/")
    if not db.isdigit() or not db.isascii():
        raise ValueError(f"needs a database number after the port, as in /0 ({usage})")
    # One option of igbridge's own: how many events the Redis stream keeps.
    options = parse_qs(parts.query, keep_blank_values=True)
    if parts.fragment or set(options) - {"maxlen"}:
        raise ValueError(f"takes no query or fragment but ?maxlen=N ({usage})")
    maxlen = options.get("maxlen", ["100"])[-1]
    if not maxlen.isdigit() or int(maxlen) < 100:
        raise ValueError(f"?maxlen must be a whole number of at least 100 events, got"
                         f" {maxlen[:20]!r}")


class _Environment(EnvSettingsSource):
    """The variables of a given mapping: ``os.environ``, or a caller's own (tests, the
    compose check), after ``_FILE`` secrets are read."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty,
                              self.env_parse_none_str)


def variable_name(field: str) -> str:
    """The environment variable a field is read from."""
    alias = Config.model_fields[field].validation_alias if field in Config.model_fields else None
    return alias if isinstance(alias, str) else PREFIX + field.upper()


_TYPE_WORDS = {"int_parsing": "a whole number", "int_from_float": "a whole number",
               "float_parsing": "a number"}


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as a sentence naming its variable."""
    field = str(error["loc"][0]) if error["loc"] else ""
    name = variable_name(field) if field in Config.model_fields else field
    raw, kind, ctx = error.get("input"), error["type"], error.get("ctx", {})
    if kind in _TYPE_WORDS:
        return f"{name} must be {_TYPE_WORDS[kind]}, got {raw!r}"
    annotation = Config.model_fields[field].annotation if field in Config.model_fields else str
    shown = annotation(raw) if annotation in (int, float) and isinstance(raw, str) else raw
    if kind == "greater_than_equal":
        return f"{name} must be at least {ctx['ge']}, got {shown}"
    if kind == "less_than_equal":
        return f"{name} must be at most {ctx['le']}, got {shown}"
    if kind == "value_error":
        return f"{name} {ctx['error']}"
    return f"{name}: {error['msg']}"


_SECRET_VARIABLES = ("IGBRIDGE_SECRET", "IGBRIDGE_WP_APP_PASSWORD", "APIFY_TOKEN")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _resolve_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """``NAME_FILE`` names a file holding NAME's value (Docker secrets, shared volumes)."""
    resolved = dict(env)
    for name in _SECRET_VARIABLES:
        file_name = env.get(f"{name}_FILE", "")
        if file_name and not env.get(name):
            try:
                resolved[name] = Path(file_name).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE={file_name!r} cannot be read: {exc}") from None
    return resolved


def load_config(env: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Build the Config from the environment; ``overrides`` (CLI flags) win over it.
    The one place settings are read; every bad value is a ``ConfigError`` naming it."""
    environ = _resolve_secret_files(os.environ if env is None else env)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Config.model_validate({**_Environment(Config, environ)(), **given})
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e) for e in exc.errors())) from None


def ensure_secret(config: Config) -> Config:
    """Return a Config with a secret: the configured one, or one kept in the data dir.

    A generated secret is only acceptable on loopback: anyone else reaching the port
    could not have been told it.
    """
    if config.secret:
        return config
    if not is_loopback(config.host):
        raise ConfigError(
            f"refusing to listen on {config.host} without IGBRIDGE_SECRET: "
            "set a secret or bind 127.0.0.1"
        )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    path = config.data_dir / SECRET_FILE
    if path.exists():
        secret = path.read_text().strip()
    else:
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
    return config.with_overrides(secret=secret)
