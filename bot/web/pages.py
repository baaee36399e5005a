"""HTML pages over bot.web.queries. Jinja2 autoescaping is on for every template: all text that
came from mail (subjects, names, logs) is escaped."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates

from bot.db.session import session_scope
from bot.web import queries

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
LOG_PAGE = 256 * 1024


@router.get("/", response_class=HTMLResponse)
def index(request: Request, project: str | None = None, state: str | None = None, page: int = Query(1, ge=1)):
    settings = request.app.state.settings
    with session_scope(settings.database_url) as session:
        rows, total = queries.series_list(session, project=project, state=state, page=page)
    return templates.TemplateResponse(request, "series_list.html", {
        "rows": rows, "total": total, "page": page, "project": project, "state": state,
        "projects": sorted(settings.projects)})


@router.get("/series/{series_id}", response_class=HTMLResponse)
def series_page(request: Request, series_id: int):
    settings = request.app.state.settings
    with session_scope(settings.database_url) as session:
        detail = queries.series_detail(session, series_id)
    if detail is None:
        raise HTTPException(404, "no such series")
    return templates.TemplateResponse(request, "series.html", {"s": detail, "public_url": settings.public_url})


@router.get("/logs/{path:path}")
def log_file(request: Request, path: str, offset: int = Query(0, ge=0), raw: bool = False):
    settings = request.app.state.settings
    root = settings.logs_dir.resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        raise HTTPException(404, "no such log")
    if raw:
        return FileResponse(target, media_type="text/plain; charset=utf-8")
    with open(target, "rb") as f:
        f.seek(offset)
        chunk = f.read(LOG_PAGE)
    text = chunk.decode("utf-8", "replace")
    size = target.stat().st_size
    if offset + len(chunk) < size:
        text += f"\n[... {size - offset - len(chunk)} more bytes: ?offset={offset + len(chunk)} or ?raw=1]\n"
    return PlainTextResponse(text)
