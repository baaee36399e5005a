"""Read side of the series list and the projects overview. A fixed number of statements per page,
whatever the number of rows: no lazy loads (the list page's statement count is tested)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.db.models import (
    InboxEpoch,
    InboxFollow,
    Message,
    OutboundMail,
    Patch,
    PatchResult,
    Run,
    Series,
    WorkerHeartbeat,
    utcnow,
)
from bot.settings import Settings
from bot.web.query import SeriesQuery, format_query, to_filters
from bot.web.records import (
    ArchiveInfo,
    Overview,
    PatchCell,
    ProjectOverview,
    SeriesPage,
    SeriesRow,
    UndeliveredMail,
    WorkerInfo,
)

PER_PAGE = 50
COUNT_CAP = 10_000  # beyond this the list says "10000+ series"
MAX_PAGE = 10_000
UNDELIVERED_SHOWN = 50
WORKER_ALIVE = dt.timedelta(seconds=60)  # a heartbeat older than this: the worker is gone (as `seriesbot status`)
ACTIVE = ("queued", "running")
REVIEW_TRAILERS_EXCLUDE = {"signed-off-by"}


def iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat() if value else None


def pending_state(run_state: str | None, index: int, first_missing: int | None) -> str:
    """The state of a patch that has no result (yet) in a run."""
    if run_state == "queued":
        return "queued"
    if run_state == "running":
        return "running" if index == first_missing else "queued"
    if run_state == "error":
        return "error"
    if run_state in ("done", "cancelled"):
        return "skip"
    return "pending"


def review_trailers(trailers: list[Any]) -> int:
    return sum(1 for t in trailers or () if str(t[0]).lower() not in REVIEW_TRAILERS_EXCLUDE)


def latest_run_ids(session: Session, series_ids: list[int]) -> dict[int, int]:
    if not series_ids:
        return {}
    rows = session.execute(select(Run.series_id, func.max(Run.id)).where(Run.series_id.in_(series_ids))
                           .group_by(Run.series_id))
    return {series_id: run_id for series_id, run_id in rows}


def series_list(session: Session, q: SeriesQuery, *, page: int = 1, per_page: int = PER_PAGE) -> SeriesPage:
    """Newest first, one page. Five statements: count, series, patches, latest runs, results."""
    page = max(1, min(page, MAX_PAGE))
    where = to_filters(q)
    # counting stops at COUNT_CAP: an exact count of a big table costs a scan that grows with it
    capped = select(Series.id).where(*where).limit(COUNT_CAP + 1).subquery()
    counted = session.scalar(select(func.count()).select_from(capped)) or 0
    total = min(counted, COUNT_CAP)
    rows = session.execute(
        select(Series.id, Series.project, Series.title, Series.author_name, Series.author_email, Series.version,
               Series.total, Series.state, Series.created_at)
        .where(*where).order_by(Series.created_at.desc(), Series.id.desc())
        .offset((page - 1) * per_page).limit(per_page + 1)).all()
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    ids = [r.id for r in rows]
    # (index, subject, trailers) per series; rows are unpacked: Row.index would be tuple.index
    patches: dict[int, list[tuple[int, str, list[Any]]]] = defaultdict(list)
    if ids:
        for series_id, index, subject, trailers in session.execute(
                select(Patch.series_id, Patch.index, Patch.subject, Patch.trailers)
                .where(Patch.series_id.in_(ids)).order_by(Patch.series_id, Patch.index)):
            patches[series_id].append((index, subject, trailers))
    runs: dict[int, Any] = {}
    verdicts: dict[int, dict[int, str]] = defaultdict(dict)
    if ids:
        latest = (select(func.max(Run.id)).where(Run.series_id.in_(ids)).group_by(Run.series_id)).scalar_subquery()
        for latest_run in session.execute(select(Run.id, Run.series_id, Run.state).where(Run.id.in_(latest))):
            runs[latest_run.series_id] = latest_run
        if runs:
            for run_id, index, verdict in session.execute(
                    select(PatchResult.run_id, PatchResult.index, PatchResult.verdict)
                    .where(PatchResult.run_id.in_([r.id for r in runs.values()]))):
                verdicts[run_id][index] = verdict
    out = []
    for s in rows:
        run = runs.get(s.id)
        done = verdicts.get(run.id, {}) if run else {}
        missing = [index for index, _, _ in patches[s.id] if index not in done]
        first_missing = min(missing) if missing else None
        cells = [PatchCell(index, subject, done.get(index) or
                           pending_state(run.state if run else None, index, first_missing))
                 for index, subject, _ in patches[s.id]]
        out.append(SeriesRow(
            id=s.id, project=s.project, title=s.title, author=s.author_name or s.author_email,
            author_email=s.author_email, version=s.version, total=s.total, state=s.state,
            created_at=iso(s.created_at) or "", trailers=sum(review_trailers(t) for _, _, t in patches[s.id]),
            run_id=run.id if run else None, run_state=run.state if run else None, patches=cells))
    pages = max(1, -(-total // per_page), page + 1 if has_next else page)
    return SeriesPage(query=format_query(q), page=page, per_page=per_page, total=total,
                      total_capped=counted > COUNT_CAP, pages=pages, has_next=has_next, series=out,
                      errors=list(q.errors))


def overview(session: Session, settings: Settings, now: dt.datetime | None = None) -> Overview:
    """Per project: series of the last day and week, passed/failed of the week, queue, running runs;
    every worker that ever sent a heartbeat; mail that will not be delivered. Five statements."""
    now = now or utcnow()
    day, week = now - dt.timedelta(days=1), now - dt.timedelta(days=7)
    counts: dict[str, Any] = {}
    for row in session.execute(
            select(Series.project,
                   func.sum(case((Series.created_at >= day, 1), else_=0)).label("day"),
                   func.count(Series.id).label("week"),
                   func.sum(case((Series.state == "passed", 1), else_=0)).label("passed"),
                   func.sum(case((Series.state.in_(("failed", "error")), 1), else_=0)).label("failed"))
            .where(Series.created_at >= week).group_by(Series.project)):
        counts[row.project] = row
    queued: dict[str, int] = defaultdict(int)
    running: dict[str, list[int]] = defaultdict(list)
    for run in session.execute(select(Run.id, Run.project, Run.state).where(Run.state.in_(ACTIVE)).order_by(Run.id)):
        if run.state == "queued":
            queued[run.project] += 1
        else:
            running[run.project].append(run.id)
    names = sorted(set(settings.projects) | set(counts))
    archives = archive_overview(session)
    projects = []
    for name in names:
        c = counts.get(name)
        project = settings.projects.get(name)
        projects.append(ProjectOverview(
            name=name, list_address=project.list_address if project else "", series_day=int(c.day or 0) if c else 0,
            series_week=int(c.week or 0) if c else 0, passed_week=int(c.passed or 0) if c else 0,
            failed_week=int(c.failed or 0) if c else 0, queued_runs=queued[name], running_runs=running[name],
            archive=archives.get(name)))
    workers = [WorkerInfo(name=w.name, host=w.host, queues=list(w.queues or []), alive=w.last_seen >= now - WORKER_ALIVE,
                          last_seen=iso(w.last_seen) or "", started_at=iso(w.started_at) or "",
                          current_run_id=w.current_run_id)
               for w in session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name))]
    undelivered = [UndeliveredMail(m.id, m.kind, m.subject, list(m.to or []), m.attempts, m.last_error,
                                   iso(m.failed_at), m.series_id, m.run_id)
                   for m in session.scalars(select(OutboundMail).where(OutboundMail.state == "failed")
                                            .order_by(OutboundMail.id.desc()).limit(UNDELIVERED_SHOWN))]
    return Overview(projects=projects, workers=workers, undelivered=undelivered)


def archive_overview(session: Session) -> dict[str, ArchiveInfo]:
    """Per followed project: the last archive commit read, the messages only the archive brought,
    the bot's mails seen on the list, and what is wrong with the archive's epochs."""
    only = dict(session.execute(select(Message.project, func.count(Message.id)).where(Message.source == "archive")
                                .group_by(Message.project)).tuples().all())
    on_list = dict(session.execute(select(Series.project, func.count(OutboundMail.id))
                                   .join(Series, Series.id == OutboundMail.series_id)
                                   .where(OutboundMail.on_list_at.is_not(None)).group_by(Series.project))
                   .tuples().all())
    problems: dict[str, list[str]] = defaultdict(list)
    for e in session.scalars(select(InboxEpoch).where(InboxEpoch.state != "ok").order_by(InboxEpoch.epoch)):
        problems[e.project].append(f"epoch {e.epoch} {e.state}")
    for e in session.scalars(select(InboxEpoch).where(InboxEpoch.state == "ok", InboxEpoch.rewrites > 0)):
        problems[e.project].append(f"epoch {e.epoch} rewritten {e.rewrites}x (read again)")
    return {f.project: ArchiveInfo(url=f.url, last_epoch=f.last_epoch, last_commit=f.last_commit,
                                   last_read_at=iso(f.last_read_at), archive_only=int(only.get(f.project, 0)),
                                   on_list=int(on_list.get(f.project, 0)), problems=problems[f.project])
            for f in session.scalars(select(InboxFollow))}
