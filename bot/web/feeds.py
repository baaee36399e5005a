"""A per-project Atom feed of finished runs, and an SVG status badge per series."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from bot.db.models import PatchResult, Run, Series, utcnow
from bot.db.session import session_scope
from bot.web.limits import PathId
from bot.web.queries import iso
from bot.web.templating import templates

router = APIRouter()
FEED_ENTRIES = 50
FINISHED = ("done", "error", "cancelled")
BADGE_COLOURS = {"passed": "#4c1", "warned": "#dfb317", "failed": "#e05d44", "error": "#9f5fd9",
                 "running": "#007ec6", "queued": "#9f9f9f", "superseded": "#9f9f9f", "merged": "#2a6"}


@router.get("/feeds/{project}.atom", include_in_schema=False)
def project_feed(request: Request, project: str) -> Response:
    settings = request.app.state.settings
    if project not in settings.projects:
        raise HTTPException(404, "no such project")
    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(Run.id, Run.series_id, Run.state, Run.verdict, Run.trigger, Run.finished_at, Run.upstream_sha,
                   Run.base_sha, Series.title, Series.version, Series.author_name, Series.author_email)
            .join(Series, Series.id == Run.series_id)
            .where(Run.project == project, Run.state.in_(FINISHED), Run.finished_at.is_not(None))
            .order_by(Run.finished_at.desc(), Run.id.desc()).limit(FEED_ENTRIES)).all()
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        if rows:
            for run_id, verdict, n in session.execute(
                    select(PatchResult.run_id, PatchResult.verdict, func.count())
                    .where(PatchResult.run_id.in_([r.id for r in rows]))
                    .group_by(PatchResult.run_id, PatchResult.verdict)):
                counts[run_id][verdict] = n
    entries = [{"run": r, "finished": iso(r.finished_at), "counts": counts.get(r.id, {})} for r in rows]
    updated = entries[0]["finished"] if entries else iso(utcnow())
    body = templates.get_template("feed.xml").render(
        project=project, entries=entries, updated=updated, base=settings.public_url)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def _text_width(text: str) -> int:
    return 10 + 7 * len(text)


@router.get("/series/{series_id}/badge.svg", include_in_schema=False)
def badge(request: Request, series_id: PathId) -> Response:
    settings = request.app.state.settings
    with session_scope(settings.database_url) as session:
        state = session.scalar(select(Series.state).where(Series.id == series_id))
    if state is None:
        raise HTTPException(404, "no such series")
    label = "seriesbot"
    lw, sw = _text_width(label), _text_width(state)
    body = templates.get_template("badge.svg").render(
        label=label, state=state, lw=lw, sw=sw, colour=BADGE_COLOURS.get(state, "#9f9f9f"))
    return Response(body, media_type="image/svg+xml; charset=utf-8",
                    headers={"Cache-Control": "no-cache, max-age=0"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)
