"""Typed request and response bodies: validated on the way in, documented in /openapi.json."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

SessionStatus = Literal["starting", "running", "complete", "error", "cancelled"]
JobStatus = Literal["queued", "running", "complete", "error", "cancelled"]
ItemState = Literal["pending", "imported", "already_imported", "skipped", "failed"]
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


class PhaseProgress(BaseModel):
    """One phase of a job as measured (progress/phases.py): its own count and time."""

    name: str
    unit: str
    cost: float  # expected seconds per unit before the phase measured its own
    total: float
    done: float
    seconds: float
    timed: float  # units done since the phase's first one, and the time they took
    timed_seconds: float = 0.0
    finished: bool


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
    eta_seconds: float | None  # None while estimating
    rate: float | None
    rate_unit: str | None = None  # what ``rate`` counts: "posts/s", "files/s", "MB/s"
    # A job's phases; ``percentage`` is one bar over all of them, never going down.
    phases: list[PhaseProgress] = Field(default_factory=list)
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


class ExportSource(Strict):
    type: Literal["export"]
    path: Annotated[str, Field(min_length=1, max_length=4096)]


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


class CreateJob(Strict):
    kind: Literal["scrape", "import", "cache_images"]
    source: Source
    options: JobOptions = Field(default_factory=JobOptions)


class JobCounts(BaseModel):
    """Items by state; ``total`` is the sum of the others."""

    pending: int
    imported: int
    already_imported: int
    skipped: int
    failed: int
    total: int


class ItemView(BaseModel):
    """An item as a person knows it: the post's words, date, thumbnail and link."""

    source_id: str
    state: ItemState
    reason: str | None
    wp_post_id: int | None
    post_url: str | None = None
    thumbnail_url: str | None = None
    caption_excerpt: str | None = None
    taken_at: str | None = None


class JobItem(ItemView):
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


class JobProgress(BaseModel):
    percentage: float  # the job's one bar over all its phases
    phase: str | None
    done: int | float  # the current phase's own count
    total: int | float


class JobSummary(BaseModel):
    """A job in the jobs list and in ``{"type": "job"}`` stream events: no items."""

    job_id: str
    session_id: str
    kind: str
    source: dict[str, Any]
    status: JobStatus
    counts: JobCounts
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    progress: JobProgress


Cursor = Annotated[str, Field(min_length=1, max_length=400)]


class JobList(BaseModel):
    jobs: list[JobSummary]  # newest first
    next_cursor: str | None  # pass as ?cursor= for the next (older) page; null: no more


class JobListQuery(Strict):
    status: JobStatus | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    cursor: Cursor | None = None
    token: str | None = None  # accepted, then refused: listing jobs needs the secret


class ItemList(BaseModel):
    items: list[ItemView]  # in the job's own order
    next_cursor: str | None


class ItemListQuery(Strict):
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    cursor: Cursor | None = None
    token: str | None = None


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
