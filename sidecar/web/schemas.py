"""Typed request and response bodies: validated on the way in, documented in /openapi.json."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from ..domain.models import ItemState, JobStatus

SessionStatus = Literal["starting", "running", "complete", "error", "cancelled"]
Text = Annotated[str, Field(max_length=2000)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class CreateSession(Strict):
    operation: Annotated[str, Field(min_length=1, max_length=200)]
    total_steps: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0


class UpdateSession(Strict):
    step: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = None
    message: Text | None = None
    details: dict[str, Any] | None = None
    phase: Annotated[str, Field(max_length=200)] | None = None
    total: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = None


class SessionUpdate(UpdateSession):
    session_id: Identifier


class UpdateMany(Strict):
    updates: Annotated[list[SessionUpdate], Field(min_length=1, max_length=1000)]


class UpdateOutcome(BaseModel):
    session_id: str
    snapshot: Snapshot | None = None
    error: ErrorDetail | None = None


class UpdateManyResult(BaseModel):
    results: list[UpdateOutcome]


class FinishSession(Strict):
    message: Text = ""


class Snapshot(BaseModel):
    session_id: str
    operation: str
    status: SessionStatus
    step: int
    total_steps: int
    percentage: float
    message: str
    details: dict[str, Any]
    phase: str | None
    done: int
    total: int
    eta_seconds: float | None
    rate: float | None
    created_at: str
    updated_at: str
    finished_at: str | None
    last_event_id: int


class SessionList(BaseModel):
    sessions: list[Snapshot]


class SessionListQuery(Strict):
    status: SessionStatus | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    before: Annotated[float, Field(ge=0)] | None = None
    token: str | None = None


class ReadQuery(Strict):
    token: str | None = None


class ApifySource(Strict):
    type: Literal["apify"]
    username: Annotated[str, Field(min_length=1, max_length=31,
                                   pattern=r"^@?[A-Za-z0-9._]{1,30}$")]
    limit: Annotated[int, Field(ge=1, le=10_000)] = 20


ExportPath = Annotated[str, Field(min_length=1, max_length=4096)]


class ExportSource(Strict):
    """One export ZIP (``path``) or the parts of a split export read as one (``paths``)."""

    type: Literal["export"]
    path: ExportPath | None = None
    paths: Annotated[list[ExportPath], Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def one_way_to_name_the_export(self) -> ExportSource:
        named = [name for name in ("path", "paths") if getattr(self, name) is not None]
        if len(named) != 1:
            raise ValueError("an export source names exactly one of path (one ZIP) or "
                             f"paths (the parts of a split export); got {named or 'neither'}")
        return self


class UrlsSource(Strict):
    type: Literal["urls"]
    urls: Annotated[list[HttpUrl], Field(min_length=1, max_length=1000)]


Source = Annotated[ApifySource | ExportSource | UrlsSource, Field(discriminator="type")]


class JobOptions(Strict):
    concurrency: Annotated[int, Field(ge=1, le=16)] | None = None
    # Posts per WordPress batch request (see jobs/kinds/import_posts.py); 1 sends each alone.
    batch: Annotated[int, Field(ge=1, le=25)] | None = None
    publish: bool = True
    only: Annotated[list[Annotated[str, Field(max_length=200)]],
                    Field(max_length=10_000)] | None = None
    retry_of: Identifier | None = None
    # Reels (reels.json, Apify's productType "clips") are imported as video posts
    # unless this is false (unset: true).
    include_reels: bool | None = None


class CreateJob(Strict):
    kind: Literal["scrape", "import", "cache_images"]
    source: Source
    options: JobOptions = Field(default_factory=JobOptions)


class JobCounts(BaseModel):
    imported: int
    skipped: int
    failed: int
    pending: int


class JobItem(BaseModel):
    source_id: str
    state: ItemState
    wp_post_id: int | None
    reason: str | None
    detail: dict[str, Any] | None


class Job(BaseModel):
    job_id: str
    session_id: str
    kind: str
    source: dict[str, Any]
    options: dict[str, Any]
    status: JobStatus
    attempts: int
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None
    error: str | None
    counts: JobCounts
    items: list[JobItem]
    progress: Snapshot | None
    # Seconds of the last attempt: wall, own (waiting on nothing outside the sidecar),
    # wordpress, downloads, apify (see jobs/timing.py); absent before an attempt has ended.
    timing: dict[str, float] | None = None
    # GET /api/jobs/{id} only: the first 8 characters, longer where another job shares them.
    short_id: str | None = None


class JobAccepted(BaseModel):
    job_id: str
    session_id: str
    stream_url: str
    job: Job
    reply: str | None = None  # set when a chat command started the job


class CommandReply(BaseModel):
    """The answer to a command that starts nothing (``status``, ``cancel``)."""

    reply: str
    jobs: list[Job]


class JobList(BaseModel):
    jobs: list[Job]


class JobListQuery(Strict):
    status: JobStatus | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    before: Annotated[float, Field(ge=0)] | None = None
    token: str | None = None  # accepted, then refused: listing jobs needs the secret


class Command(Strict):
    text: Annotated[str, Field(min_length=1, max_length=1000)]


class StreamTokenRequest(Strict):
    sessions: Annotated[list[Annotated[str, Field(min_length=1, max_length=64,
                                                  pattern=r"^(\*|[A-Za-z0-9_-]+)$")]],
                        Field(min_length=1, max_length=200)]
    ttl: Annotated[int, Field(ge=1, le=86_400)] = 300


class StreamToken(BaseModel):
    token: str
    expires_at: int
    sessions: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    jobs_running: int
    streams_open: int
    compactions_done: int  # retention compaction runs in the background after start-up
