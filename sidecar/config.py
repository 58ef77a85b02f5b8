"""Configuration, read once from ``IGBRIDGE_*`` environment variables.

Bad values fail at start-up with a message naming the variable, never late in a job.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ConfigError

DEFAULT_PORT = 8765
SECRET_FILE = "secret"  # noqa: S105 - a file name


@dataclass(frozen=True)
class Config:
    data_dir: Path
    secret: str = ""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    allowed_origins: tuple[str, ...] = ()
    public_url: str = ""
    wp_url: str = ""
    wp_user: str = ""
    wp_app_password: str = ""
    apify_token: str = ""
    apify_actor: str = "apify/instagram-scraper"
    apify_api_url: str = "https://api.apify.com"
    backend: str = "sqlite"
    retention_days: float = 30.0
    heartbeat_seconds: float = 15.0
    sse_retry_ms: int = 2000
    max_jobs: int = 4
    import_concurrency: int = 4
    import_batch: int = 10
    download_concurrency: int = 6
    media_max_bytes: int = 200 * 1024 * 1024
    upload_max_bytes: int = 20 * 1024**3  # one file of an uploaded export
    upload_reserve_bytes: int = 512 * 1024**2  # uploads never take the disk's last bytes
    job_attempts: int = 3
    backoff_base_seconds: float = 0.5
    job_heartbeat_seconds: float = 2.0
    apify_poll_seconds: float = 2.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "igbridge.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def with_overrides(self, **changes: object) -> Config:
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0,
         maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, default: str = "") -> str:
    raw = env.get(name, "").strip() or default
    if raw and not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {raw!r}")
    return raw.rstrip("/")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_SECRET_VARIABLES = ("IGBRIDGE_SECRET", "IGBRIDGE_WP_APP_PASSWORD", "APIFY_TOKEN")


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
    """Build the Config from the environment; ``overrides`` (CLI flags) win over it."""
    env = _resolve_secret_files(os.environ if env is None else env)
    data_dir = Path(str(overrides.pop("data_dir", None) or env.get("IGBRIDGE_DATA_DIR") or
                        Path.home() / ".local" / "share" / "igbridge"))
    backend = env.get("IGBRIDGE_BACKEND", "sqlite").strip() or "sqlite"
    # A redis:// URL's host, database and options are checked when it is opened.
    if backend != "sqlite" and not backend.startswith(("redis://", "rediss://")):
        raise ConfigError(
            f"IGBRIDGE_BACKEND={backend!r} must be 'sqlite' or a redis://host:port/db URL"
        )
    origins = tuple(
        o.strip().rstrip("/") for o in env.get("IGBRIDGE_ALLOWED_ORIGINS", "").split(",")
        if o.strip()
    )
    for origin in origins:
        if not origin.startswith(("http://", "https://")):
            raise ConfigError(
                f"IGBRIDGE_ALLOWED_ORIGINS entry {origin!r} must be an http(s) origin"
            )
    config = Config(
        data_dir=data_dir,
        secret=env.get("IGBRIDGE_SECRET", ""),
        host=env.get("IGBRIDGE_HOST", "127.0.0.1"),
        port=_int(env, "IGBRIDGE_PORT", DEFAULT_PORT, minimum=0),
        allowed_origins=origins,
        public_url=_url(env, "IGBRIDGE_PUBLIC_URL"),
        wp_url=_url(env, "IGBRIDGE_WP_URL"),
        wp_user=env.get("IGBRIDGE_WP_USER", ""),
        wp_app_password=env.get("IGBRIDGE_WP_APP_PASSWORD", ""),
        apify_token=env.get("APIFY_TOKEN", ""),
        apify_actor=env.get("IGBRIDGE_APIFY_ACTOR", "apify/instagram-scraper") or
        "apify/instagram-scraper",
        apify_api_url=_url(env, "IGBRIDGE_APIFY_API_URL", "https://api.apify.com"),
        backend=backend,
        retention_days=_float(env, "IGBRIDGE_RETENTION_DAYS", 30.0),
        heartbeat_seconds=_float(env, "IGBRIDGE_HEARTBEAT_SECONDS", 15.0, minimum=0.05),
        max_jobs=_int(env, "IGBRIDGE_MAX_JOBS", 4, minimum=1),
        import_concurrency=_int(env, "IGBRIDGE_IMPORT_CONCURRENCY", 4, minimum=1),
        import_batch=_int(env, "IGBRIDGE_IMPORT_BATCH", 10, minimum=1, maximum=25),
        download_concurrency=_int(env, "IGBRIDGE_DOWNLOAD_CONCURRENCY", 6, minimum=1),
        media_max_bytes=_int(env, "IGBRIDGE_MEDIA_MAX_BYTES", 200 * 1024 * 1024, minimum=1),
        upload_max_bytes=_int(env, "IGBRIDGE_UPLOAD_MAX_BYTES", 20 * 1024**3, minimum=1),
        upload_reserve_bytes=_int(env, "IGBRIDGE_UPLOAD_RESERVE_BYTES", 512 * 1024**2),
        job_attempts=_int(env, "IGBRIDGE_JOB_ATTEMPTS", 3, minimum=1),
        backoff_base_seconds=_float(env, "IGBRIDGE_BACKOFF_SECONDS", 0.5),
        apify_poll_seconds=_float(env, "IGBRIDGE_APIFY_POLL_SECONDS", 2.0, minimum=0.01),
    )
    if overrides:
        config = config.with_overrides(**overrides)
    return config


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
