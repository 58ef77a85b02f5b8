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
    last_event_id: int | str  # opaque: an integer on SQLite, a string on Redis


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
    # Apify's onlyPostsNewerThan: ISO date-time (sync jobs set it from the saved source).
    only_newer_than: Annotated[str, Field(
        pattern=r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")] | None = None


ExportPath = Annotated[str, Field(min_length=1, max_length=4096)]


class ExportSource(Strict):
    """One export ZIP (``path``), the parts of a split export read as one (``paths``), or
    exports uploaded through WordPress (``upload_ids``, resolved by ``jobs/uploaded.py``)."""

    type: Literal["export"]
    path: ExportPath | None = None
    paths: Annotated[list[ExportPath], Field(min_length=1, max_length=100)] | None = None
    # Exports uploaded in chunks (POST /api/uploads): the sidecar finds their files.
    upload_ids: Annotated[list[Identifier], Field(min_length=1, max_length=50)] | None = None

    @model_validator(mode="after")
    def one_way_to_name_the_export(self) -> ExportSource:
        named = [name for name in ("path", "paths", "upload_ids")
                 if getattr(self, name) is not None]
        if len(named) != 1:
            raise ValueError("an export source names exactly one of path (one ZIP), paths "
                             "(the parts of a split export) or upload_ids (uploaded through "
                             f"WordPress); got {named or 'neither'}")
        return self


class UrlsSource(Strict):
    type: Literal["urls"]
    urls: Annotated[list[HttpUrl], Field(min_length=1, max_length=1000)]


class PreviewSource(Strict):
    """The posts a person picked from a preview job (``jobs/picked.py``): an import of
    exactly those, from the preview's fetched data."""

    type: Literal["preview"]
    job_id: Identifier
    select: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]],
                      Field(min_length=1, max_length=10_000)]


class SiteSource(Strict):
    """Every post this sidecar imported into the site (a ``repair`` reads it)."""

    type: Literal["site"]


Source = Annotated[ApifySource | ExportSource | UrlsSource | SiteSource | PreviewSource,
                   Field(discriminator="type")]


class TitleRuleBody(Strict):
    rule: Literal["first_line", "date", "template"] = "first_line"
    max_length: Annotated[int, Field(ge=10, le=200)] = 80
    template: Annotated[str, Field(max_length=300)] = ""

    @model_validator(mode="after")
    def template_when_asked(self) -> TitleRuleBody:
        if self.rule == "template" and not self.template.strip():
            raise ValueError("title.template is required when title.rule is 'template'")
        return self


class MappingBody(Strict):
    """How a source's posts land in WordPress (``domain/mapping.py``); every key is
    optional and the defaults are the import as it always was."""

    status: Literal["publish", "draft", "pending", "private"] = "publish"
    # Any public post type that supports the editor: checked in WordPress when a source
    # is saved (jobs/saved_sources.py); a post type's key is at most 20 characters.
    post_type: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,20}$")] = "post"
    category_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=50)] = []
    author_id: Annotated[int, Field(ge=1)] | None = None
    title: TitleRuleBody = Field(default_factory=TitleRuleBody)
    content_template: Annotated[str, Field(min_length=1, max_length=5000)] | None = None
    hashtags: Literal["tags", "text", "both"] = "both"
    featured: Literal["first", "none"] = "first"
    include_reels: bool = True


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
    mapping: MappingBody | None = None
    # Set by the sidecar on a sync job: the saved source it syncs.
    saved_source_id: Identifier | None = None
    # Set by the sidecar on an import of posts picked from a preview: that preview.
    from_preview: Identifier | None = None


class CreateJob(Strict):
    kind: Literal["scrape", "import", "cache_images", "repair", "preview"]
    source: Source
    options: JobOptions = Field(default_factory=JobOptions)


class JobCounts(BaseModel):
    """Items by state; ``total`` is their sum (the posts in the source, skipped ones too)."""

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
    # A preview's items only: new, already_imported or deleted; photo, video, carousel, reel.
    preview: Literal["new", "already_imported", "deleted"] | None = None
    kind: Literal["photo", "video", "carousel", "reel"] | None = None


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
    # Apify jobs: the estimate a preview made before the run (estimate_usd, results,
    # price_per_result_usd, start_fee_usd, max_total_charge_usd, pricing_model) and what the run was
    # charged after it (charged_usd, charged_event_counts, usage_total_usd).
    cost: dict[str, Any] | None = None
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
    status: Literal["ok", "unavailable"]
    problem: str | None  # why not ok: e.g. "Redis at host:port/db is unreachable: ..."
    version: str
    jobs_running: int
    streams_open: int
    compactions_done: int  # retention compaction runs in the background after start-up
    uploads_shared: bool  # IGBRIDGE_UPLOADS_DIR is set: one uploads directory for all
    uploads_warning: str | None  # on Redis without it: uploads stay in this process


# -- uploads (web/routes/uploads.py) -----------------------------------------------------


class CreateUpload(Strict):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=1)]
    last_modified: Annotated[int, Field(ge=0)] = 0  # the browser's File.lastModified (ms)


class Upload(BaseModel):
    upload_id: str
    name: str
    size: int
    last_modified: int
    offset: int  # bytes the sidecar has; the next chunk starts here
    complete: bool
    created_at: str
    updated_at: str
    expires_at: str  # deleted then unless an import or a chunk touches it again
    max_chunk_bytes: int


class UploadLimits(BaseModel):
    max_file_bytes: int
    max_chunk_bytes: int
    free_bytes: int
    retention_days: float


class UploadList(BaseModel):
    limits: UploadLimits
    uploads: list[Upload]


# -- settings (web/routes/settings.py) ---------------------------------------------------


class ApifyTokenBody(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]


class ApifyTokenStatus(BaseModel):
    set: bool
    source: Literal["environment", "saved"] | None


class ApifyCheck(BaseModel):
    ok: bool
    status: Literal["ok", "not_set", "invalid", "unreachable", "error"]
    message: str
    username: str | None


# -- saved sources (issue 14) ------------------------------------------------------------


class Schedule(Strict):
    every_minutes: Annotated[int, Field(ge=1, le=60 * 24 * 31)]


class CreateSource(Strict):
    """A saved source: an Instagram account through Apify, or an uploaded export."""

    type: Literal["apify", "export"]
    username: Annotated[str, Field(min_length=1, max_length=31,
                                   pattern=r"^@?[A-Za-z0-9._]{1,30}$")] | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 20
    path: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    mapping: MappingBody = Field(default_factory=MappingBody)
    schedule: Schedule | None = None
    paused: bool = False

    @model_validator(mode="after")
    def what_it_reads(self) -> CreateSource:
        if self.type == "apify" and not self.username:
            raise ValueError("username is required for an apify source")
        if self.type == "export" and not self.path:
            raise ValueError("path is required for an export source")
        if self.type == "export" and self.schedule is not None:
            raise ValueError("schedule: an export does not change; only apify sources sync")
        return self


class UpdateSource(Strict):
    """PATCH: the keys given replace the saved ones; ``mapping`` merges key by key."""

    username: Annotated[str, Field(min_length=1, max_length=31,
                                   pattern=r"^@?[A-Za-z0-9._]{1,30}$")] | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    mapping: dict[str, Any] | None = None
    schedule: Schedule | None = None
    paused: bool | None = None


class LastSync(BaseModel):
    at: str
    job_id: str
    status: JobStatus
    counts: dict[str, int]
    message: str


class SavedSource(BaseModel):
    source_id: str
    type: Literal["apify", "export"]
    username: str | None
    limit: int
    path: str | None
    name: str | None
    mapping: MappingBody
    schedule: Schedule | None
    paused: bool
    next_run_at: str | None
    last_sync: LastSync | None
    sync_job_id: str | None  # the sync running now, if any
    created_at: str
    updated_at: str


class SourceList(BaseModel):
    sources: list[SavedSource]


class MappingPreviewRequest(Strict):
    """A mapping to preview on one post: the one given, else the saved source's newest
    known post, else a bundled sample."""

    mapping: MappingBody = Field(default_factory=MappingBody)
    source_id: Identifier | None = None
    post: dict[str, Any] | None = None


class PreviewedPost(BaseModel):
    source_id: str
    taken_at: str
    # "given" (in the request), "source" (the source's newest known post) or "sample"
    from_: Literal["given", "source", "sample"] = Field(alias="from")


class FeaturedImage(BaseModel):
    url: str | None
    alt: str


class MappingPreview(BaseModel):
    post: PreviewedPost
    title: str
    content: str  # block markup, as the import writes it (media at their original URLs)
    status: str
    post_type: str
    author_id: int | None
    category_ids: list[int]
    tags: list[str]
    featured_image: FeaturedImage | None
