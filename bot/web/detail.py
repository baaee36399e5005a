"""Read side of one series: versions, patches and trailers, runs with their patch x step matrix,
findings, commands received and mails sent; the live status the series page polls; and the
lookup of a patch or cover letter by Message-ID (b4-check)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.db.models import CommandRow, OutboundMail, Patch, PatchResult, Run, Series, utcnow
from bot.settings import Settings
from bot.web.queries import ACTIVE, iso, pending_state
from bot.web.records import (
    CacheUse,
    CommandInfo,
    Finding,
    LiveStatus,
    MailInfo,
    MatrixRow,
    PatchInfo,
    PatchLookup,
    ResultChange,
    ResultDetail,
    RunDetail,
    SeriesDetail,
    Timings,
    Trailer,
    VersionInfo,
)

MAX_VERSIONS = 30


def _timings(durations: dict[str, Any]) -> Timings:
    def seconds(key: str) -> float | None:
        value = durations.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    return Timings(**{k: seconds(k) for k in Timings.__dataclass_fields__})


def _cache_use(details: dict[str, Any]) -> CacheUse | None:
    c = details.get("ccache")
    if not isinstance(c, dict):
        return None
    try:
        rate = c.get("hit_rate")
        return CacheUse(int(c.get("hits", 0)), int(c.get("misses", 0)), int(c.get("uncacheable", 0)),
                        float(rate) if isinstance(rate, int | float) else None)
    except (TypeError, ValueError):
        return None


def result_detail(x: PatchResult) -> ResultDetail:
    details, durations = dict(x.details or {}), dict(x.durations or {})
    return ResultDetail(
        index=x.index, commit=x.commit, apply=x.apply, build=x.build, test=x.test, rules=x.rules, verdict=x.verdict,
        details=details, durations=durations, logs=dict(x.logs or {}),
        reused_from=x.reused_from,
        findings=[Finding(f.rule_id, f.severity, f.path, f.line, f.message, f.guide) for f in x.findings],
        timings=_timings(durations), ccache=_cache_use(details))


def matrix(run_state: str, indexes: Sequence[int], results: Sequence[ResultDetail]) -> list[MatrixRow]:
    by_index = {r.index: r for r in results}
    missing = [i for i in indexes if i not in by_index]
    first = min(missing) if missing else None
    rows = []
    for index in indexes:
        r = by_index.get(index)
        if r is not None:
            rows.append(MatrixRow(index, r.apply, r.build, r.test, r.rules, r.verdict))
        else:
            st = pending_state(run_state, index, first)
            rows.append(MatrixRow(index, st, st, st, st, st))
    return rows


def run_detail(run: Run, indexes: Sequence[int], now: dt.datetime | None = None) -> RunDetail:
    results = [result_detail(x) for x in run.results]
    end = run.finished_at or (now or utcnow() if run.state == "running" else None)
    duration = round((end - run.started_at).total_seconds(), 1) if run.started_at and end else None
    return RunDetail(
        id=run.id, series_id=run.series_id, project=run.project, state=run.state, verdict=run.verdict,
        trigger=run.trigger, requested_by=run.requested_by, base_kind=run.base_kind, base_ref=run.base_ref,
        base_sha=run.base_sha, upstream_sha=run.upstream_sha, rebase_conflict=run.rebase_conflict,
        branch=run.branch, worker=run.worker, error=run.error or "", created_at=iso(run.created_at),
        started_at=iso(run.started_at), finished_at=iso(run.finished_at), duration=duration, results=results,
        matrix=matrix(run.state, indexes, results))


def live_token(series_state: str, run: RunDetail | None, mail_states: Sequence[str]) -> str:
    """Changes whenever the series page would: a result, a run's state, a mail queued or sent."""
    mails = f"{len(mail_states)}/{sum(1 for m in mail_states if m == 'sent')}"
    if run is None:
        return f"{series_state}|-|{mails}"
    done = ",".join(f"{r.index}:{r.verdict}" for r in sorted(run.results, key=lambda r: r.index))
    return f"{series_state}|{run.id}|{run.state}|{done}|{mails}"


def _runs(session: Session, series_id: int) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.series_id == series_id).order_by(Run.id.desc())
                                .options(selectinload(Run.results).selectinload(PatchResult.findings))))


def version_chain(session: Session, s: Series) -> list[Series]:
    """Every version of the series, oldest first (v1 -> v2 -> v3 by supersedes/superseded_by)."""
    chain = [s]
    seen = {s.id}
    cur = s
    while cur.supersedes_id and cur.supersedes_id not in seen and len(chain) < MAX_VERSIONS:
        prev = session.get(Series, cur.supersedes_id)
        if prev is None:
            break
        chain.insert(0, prev)
        seen.add(prev.id)
        cur = prev
    cur = s
    while cur.superseded_by_id and cur.superseded_by_id not in seen and len(chain) < MAX_VERSIONS:
        nxt = session.get(Series, cur.superseded_by_id)
        if nxt is None:
            break
        chain.append(nxt)
        seen.add(nxt.id)
        cur = nxt
    return chain


def versions(session: Session, chain: list[Series]) -> tuple[list[VersionInfo], dict[int, dict[int, str]]]:
    """Per version, which patches changed against the previous one (by git patch-id)."""
    ids = [v.id for v in chain]
    patch_ids: dict[int, dict[int, str | None]] = defaultdict(dict)
    for series_id, index, pid in session.execute(select(Patch.series_id, Patch.index, Patch.patch_id)
                                                 .where(Patch.series_id.in_(ids))):
        patch_ids[series_id][index] = pid
    infos, changes = [], {}
    prev: dict[int, str | None] | None = None
    for v in chain:
        mine = patch_ids[v.id]
        change: dict[int, str] = {}
        if prev is not None:
            old = {p for p in prev.values() if p}
            for index, pid in sorted(mine.items()):
                change[index] = "unchanged" if pid and pid in old else "changed"
            dropped = max(0, len(prev) - len(mine))
        else:
            dropped = 0
        changes[v.id] = change
        infos.append(VersionInfo(
            series_id=v.id, version=v.version, title=v.title, state=v.state, created_at=iso(v.created_at) or "",
            unchanged=[i for i, c in change.items() if c == "unchanged"],
            changed=[i for i, c in change.items() if c == "changed"], dropped=dropped))
        prev = mine
    return infos, changes


def series_detail(session: Session, series_id: int, *, run_id: int | None = None) -> SeriesDetail | None:
    """The series page. `run_id` puts that run first (the matrix shows runs[0])."""
    s = session.get(Series, series_id, options=[selectinload(Series.patches)])
    if s is None:
        return None
    indexes = [p.index for p in s.patches]
    now = utcnow()
    runs = [run_detail(r, indexes, now) for r in _runs(session, s.id)]
    if run_id is not None:
        runs.sort(key=lambda r: r.id != run_id)
    infos, changes = versions(session, version_chain(session, s))
    change = changes.get(s.id, {})
    commands = session.scalars(select(CommandRow).where(CommandRow.series_id == s.id).order_by(CommandRow.id))
    mails = list(session.scalars(select(OutboundMail).where(OutboundMail.series_id == s.id)
                                 .order_by(OutboundMail.id)))
    latest = max(runs, key=lambda r: r.id) if runs else None
    from bot.report.report import since_previous_version  # the summary mail's comparison, same numbers

    since = since_previous_version(session, s)
    return SeriesDetail(
        since_previous=[ResultChange(c.index, c.title, c.change, c.was) for c in since.changes] if since else [],
        since_version=since.previous_version if since else None,
        id=s.id, project=s.project, title=s.title, author=s.author_name, author_email=s.author_email,
        version=s.version, total=s.total, state=s.state, missing=list(s.missing or []), cover_msgid=s.cover_msgid,
        base_commit=s.base_commit, created_at=iso(s.created_at), supersedes=s.supersedes_id,
        superseded_by=s.superseded_by_id,
        patches=[PatchInfo(index=p.index, subject=p.subject, message_id=p.message_id, patch_id=p.patch_id,
                           author=p.author_name or p.author_email,
                           trailers=[Trailer(str(t[0]), str(t[1])) for t in p.trailers or ()],
                           change=change.get(p.index, "")) for p in s.patches],
        versions=infos, runs=runs,
        commands=[CommandInfo(c.sender, c.verb, list(c.args or []), c.allowed, c.decision, c.run_id,
                              iso(c.created_at)) for c in commands],
        mails=[MailInfo(m.kind, m.subject, list(m.to or []), list(m.cc or []), m.state, m.attempts, m.last_error,
                        iso(m.created_at), iso(m.sent_at), m.message_id, m.run_id, iso(m.on_list_at))
               for m in mails],
        live=live_token(s.state, latest, [m.state for m in mails]))


def get_run(session: Session, run_id: int) -> RunDetail | None:
    run = session.get(Run, run_id, options=[selectinload(Run.results).selectinload(PatchResult.findings)])
    if run is None:
        return None
    indexes = session.scalars(select(Patch.index).where(Patch.series_id == run.series_id).order_by(Patch.index))
    return run_detail(run, list(indexes))


def live_status(session: Session, series_id: int) -> LiveStatus | None:
    """What the live view polls: small, and its `live` token equals the page's while nothing moved."""
    state = session.scalar(select(Series.state).where(Series.id == series_id))
    if state is None:
        return None
    run_id = session.scalar(select(func.max(Run.id)).where(Run.series_id == series_id))
    run = get_run(session, run_id) if run_id else None
    active = state in ACTIVE or (run is not None and run.state in ACTIVE)
    mails = session.scalars(select(OutboundMail.state).where(OutboundMail.series_id == series_id)).all()
    return LiveStatus(series_id=series_id, state=state, active=active, live=live_token(state, run, mails),
                      run_id=run.id if run else None, matrix=run.matrix if run else [])


def lookup_message(session: Session, settings: Settings, msgid: str) -> PatchLookup | None:
    """A patch (newest series that has it) or a cover letter, with the series' latest run."""
    msgid = msgid.strip().strip("<>").strip()
    if not msgid:
        return None
    patch = session.scalar(select(Patch).where(Patch.message_id == msgid).order_by(Patch.id.desc()).limit(1))
    series = patch.series if patch is not None else session.scalar(
        select(Series).where(Series.cover_msgid == msgid).order_by(Series.id.desc()).limit(1))
    if series is None:
        return None
    run_id = session.scalar(select(func.max(Run.id)).where(Run.series_id == series.id))
    run = get_run(session, run_id) if run_id else None
    anchor = f"#patch-{patch.index}" if patch is not None else ""
    return PatchLookup(message_id=msgid, series_id=series.id, project=series.project, version=series.version,
                       url=f"{settings.public_url}/series/{series.id}{anchor}",
                       patch_index=patch.index if patch is not None else None, series_state=series.state, run=run)
