"""Read-only queries for the dashboard and the JSON API: both render the same records."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.db.models import OutboundMail, PatchResult, Run, Series


@dataclass(frozen=True)
class PatchCell:
    index: int
    subject: str
    verdict: str


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
    trailers: int
    patches: list[PatchCell] = field(default_factory=list)


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat() if value else None


def latest_runs(session: Session, series_ids: list[int]) -> dict[int, Run]:
    if not series_ids:
        return {}
    latest = (select(Run.series_id, func.max(Run.id).label("run_id"))
              .where(Run.series_id.in_(series_ids)).group_by(Run.series_id).subquery())
    runs = session.scalars(select(Run).join(latest, Run.id == latest.c.run_id)
                           .options(selectinload(Run.results))).all()
    return {r.series_id: r for r in runs}


def series_list(session: Session, *, project: str | None = None, state: str | None = None,
                page: int = 1, per_page: int = 50) -> tuple[list[SeriesRow], int]:
    query = select(Series)
    if project:
        query = query.where(Series.project == project)
    if state:
        query = query.where(Series.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.options(selectinload(Series.patches)).order_by(Series.created_at.desc(), Series.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    runs = latest_runs(session, [s.id for s in rows])
    out = []
    for s in rows:
        run = runs.get(s.id)
        verdicts = {r.index: r.verdict for r in run.results} if run else {}
        default = "queued" if run and run.state == "queued" else ("running" if run and run.state == "running" else "pending")
        cells = [PatchCell(p.index, p.subject, verdicts.get(p.index, default)) for p in s.patches]
        out.append(SeriesRow(s.id, s.project, s.title, s.author_name or s.author_email, s.author_email, s.version,
                             s.total, s.state, _iso(s.created_at) or "", sum(len(p.trailers) for p in s.patches), cells))
    return out, total


def series_detail(session: Session, series_id: int) -> dict[str, Any] | None:
    s = session.get(Series, series_id)
    if s is None:
        return None
    runs = session.scalars(select(Run).where(Run.series_id == s.id).order_by(Run.id.desc())
                           .options(selectinload(Run.results).selectinload(PatchResult.findings))).all()
    mails = session.scalars(select(OutboundMail).where(OutboundMail.series_id == s.id).order_by(OutboundMail.id)).all()
    return {
        "id": s.id, "project": s.project, "title": s.title, "author": s.author_name, "author_email": s.author_email,
        "version": s.version, "total": s.total, "state": s.state, "missing": s.missing,
        "cover_msgid": s.cover_msgid, "base_commit": s.base_commit, "created_at": _iso(s.created_at),
        "superseded_by": s.superseded_by_id, "supersedes": s.supersedes_id,
        "patches": [{"index": p.index, "subject": p.subject, "message_id": p.message_id, "patch_id": p.patch_id,
                     "trailers": [{"name": t[0], "value": t[1]} for t in p.trailers]} for p in s.patches],
        "runs": [run_detail(r) for r in runs],
        "mails": [{"key": m.key, "kind": m.kind, "subject": m.subject, "state": m.state, "to": m.to,
                   "attempts": m.attempts, "sent_at": _iso(m.sent_at), "message_id": m.message_id} for m in mails],
    }


def run_detail(r: Run) -> dict[str, Any]:
    return {
        "id": r.id, "state": r.state, "verdict": r.verdict, "trigger": r.trigger, "requested_by": r.requested_by,
        "base_kind": r.base_kind, "base_ref": r.base_ref, "base_sha": r.base_sha, "upstream_sha": r.upstream_sha,
        "rebase_conflict": r.rebase_conflict, "branch": r.branch, "worker": r.worker, "error": r.error,
        "created_at": _iso(r.created_at), "started_at": _iso(r.started_at), "finished_at": _iso(r.finished_at),
        "results": [result_detail(x) for x in r.results],
    }


def result_detail(x: PatchResult) -> dict[str, Any]:
    return {
        "index": x.index, "commit": x.commit, "apply": x.apply, "build": x.build, "test": x.test,
        "rules": x.rules, "verdict": x.verdict, "details": x.details, "durations": x.durations, "logs": x.logs,
        "reused_from": x.reused_from,
        "findings": [{"rule_id": f.rule_id, "severity": f.severity, "path": f.path, "line": f.line,
                      "message": f.message, "guide": f.guide} for f in x.findings],
    }


def as_dict(row: SeriesRow) -> dict[str, Any]:
    return asdict(row)
