"""What the dashboard and the JSON API show, as typed records: the pages render them, the API
returns them (FastAPI derives the OpenAPI schema from these dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STEPS = ("apply", "build", "test", "rules")


@dataclass(frozen=True)
class PatchCell:
    """One patch in the list: the worst of its steps in the series' latest run."""

    index: int
    subject: str
    verdict: str  # ok, warn, fail, error, skip; queued, running, pending while there is no result


@dataclass(frozen=True)
class SeriesRow:
    id: int
    project: str
    title: str
    author: str
    author_email: str
    version: int
    total: int
    state: str
    created_at: str
    trailers: int  # Reviewed-by, Acked-by, Tested-by, ... (not Signed-off-by)
    run_id: int | None = None
    run_state: str | None = None
    patches: list[PatchCell] = field(default_factory=list)


@dataclass(frozen=True)
class SeriesPage:
    query: str
    page: int
    per_page: int
    total: int  # exact up to 10,000; beyond that 10,000 with total_capped set
    total_capped: bool
    pages: int
    has_next: bool
    series: list[SeriesRow]
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    host: str
    queues: list[str]
    alive: bool
    last_seen: str
    started_at: str
    current_run_id: int | None


@dataclass(frozen=True)
class ArchiveInfo:
    url: str
    last_epoch: int | None
    last_commit: str | None  # the newest archive commit read
    last_read_at: str | None
    archive_only: int  # messages that came in through the archive alone (SMTP never had them first)
    on_list: int  # the bot's own mails seen in the archive
    problems: list[str]  # epochs rewritten or missing, the archive unreachable


@dataclass(frozen=True)
class ProjectOverview:
    name: str
    list_address: str
    series_day: int
    series_week: int
    passed_week: int
    failed_week: int
    queued_runs: int
    running_runs: list[int]
    archive: ArchiveInfo | None = None  # the followed public-inbox archive, when the project has one


@dataclass(frozen=True)
class UndeliveredMail:
    """A mail refused for good, out of attempts, or whose outcome was unknown twice:
    `seriesbot outbox retry <id>` sends it again."""
    id: int
    kind: str
    subject: str
    to: list[Any]
    attempts: int
    last_error: str
    failed_at: str | None
    series_id: int | None
    run_id: int | None


@dataclass(frozen=True)
class Overview:
    projects: list[ProjectOverview]
    workers: list[WorkerInfo]
    undelivered: list[UndeliveredMail] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    path: str
    line: int
    message: str
    guide: str


@dataclass(frozen=True)
class Timings:
    """Seconds a patch spent per step (None: the step did not run for it). `setup` is meson's
    configure when the build directory needed it; `upstream` is upstream's own build and tests,
    taken only when this patch failed and no earlier run had them."""

    checkout: float | None = None
    setup: float | None = None
    build: float | None = None
    test: float | None = None
    upstream: float | None = None
    rules: float | None = None


@dataclass(frozen=True)
class CacheUse:
    """The compiler cache (ccache) in this patch's build: compiles served from it, compiled anew,
    and those it cannot cache; hit_rate = hits / (hits + misses)."""

    hits: int
    misses: int
    uncacheable: int
    hit_rate: float | None


@dataclass(frozen=True)
class ResultDetail:
    index: int
    commit: str | None
    apply: str
    build: str
    test: str
    rules: str
    verdict: str
    details: dict[str, Any]
    durations: dict[str, Any]
    logs: dict[str, str]
    reused_from: int | None
    findings: list[Finding]
    timings: Timings = field(default_factory=Timings)
    ccache: CacheUse | None = None


@dataclass(frozen=True)
class MatrixRow:
    """One patch x (apply, build, test, rules) of a run, with queued/running where no result is yet."""

    index: int
    apply: str
    build: str
    test: str
    rules: str
    verdict: str


@dataclass(frozen=True)
class RunDetail:
    id: int
    series_id: int
    project: str
    state: str
    verdict: str | None
    trigger: str
    requested_by: str
    base_kind: str | None
    base_ref: str | None
    base_sha: str | None
    upstream_sha: str | None
    rebase_conflict: dict[str, Any] | None
    branch: str | None
    worker: str | None
    error: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration: float | None  # seconds from start to finish (or to now while running)
    results: list[ResultDetail]
    matrix: list[MatrixRow]


@dataclass(frozen=True)
class Trailer:
    name: str
    value: str


@dataclass(frozen=True)
class PatchInfo:
    index: int
    subject: str
    message_id: str
    patch_id: str | None
    author: str
    trailers: list[Trailer]
    change: str  # against the previous version: new, changed, unchanged ("" when there is none)


@dataclass(frozen=True)
class VersionInfo:
    series_id: int
    version: int
    title: str
    state: str
    created_at: str
    unchanged: list[int]  # patch indexes whose patch-id the previous version had
    changed: list[int]
    dropped: int  # how many fewer patches than the previous version


@dataclass(frozen=True)
class CommandInfo:
    sender: str
    verb: str
    args: list[Any]
    allowed: bool
    decision: str
    run_id: int | None
    created_at: str | None


@dataclass(frozen=True)
class MailInfo:
    kind: str
    subject: str
    to: list[Any]
    cc: list[Any]
    state: str
    attempts: int
    last_error: str
    created_at: str | None
    sent_at: str | None
    message_id: str
    run_id: int | None
    on_list_at: str | None = None  # seen in the list's public-inbox archive (proof of delivery)


@dataclass(frozen=True)
class SeriesDetail:
    id: int
    project: str
    title: str
    author: str
    author_email: str
    version: int
    total: int
    state: str
    missing: list[Any]
    cover_msgid: str | None
    base_commit: str | None
    created_at: str | None
    supersedes: int | None
    superseded_by: int | None
    patches: list[PatchInfo]
    versions: list[VersionInfo]
    runs: list[RunDetail]  # newest first; runs[0] is the one the matrix shows
    commands: list[CommandInfo]
    mails: list[MailInfo]
    live: str  # changes whenever the page would: the live view refetches when it does
    # per patch, its result against the previous version's (bot.report.versiondiff); empty without one
    since_previous: list[ResultChange] = field(default_factory=list)
    since_version: int | None = None


@dataclass(frozen=True)
class ResultChange:
    index: int | None  # None: a patch of the previous version that is gone
    title: str
    change: str  # fixed, newly failing, unchanged, new patch, dropped patch, not compared
    was: int | None


@dataclass(frozen=True)
class LiveStatus:
    series_id: int
    state: str
    active: bool
    live: str
    run_id: int | None
    matrix: list[MatrixRow]


@dataclass(frozen=True)
class PatchLookup:
    """What seriesbot knows about one mail by its Message-ID (a patch, or a series' cover letter)."""

    message_id: str
    series_id: int
    project: str
    version: int
    url: str
    patch_index: int | None  # None for a cover letter
    series_state: str
    run: RunDetail | None


@dataclass(frozen=True)
class LogChunk:
    path: str
    offset: int
    size: int
    next_offset: int | None
    text: str


@dataclass(frozen=True)
class RangeDiff:
    series_id: int
    other_id: int
    text: str
    error: str = ""


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    run_id: int | None = None
