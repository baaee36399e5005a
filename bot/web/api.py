"""JSON API: the same queries as the pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from bot.db.session import session_scope
from bot.web import queries

router = APIRouter(prefix="/api")


@router.get("/series")
def list_series(request: Request, project: str | None = None, state: str | None = None,
                page: int = Query(1, ge=1), per_page: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
    settings = request.app.state.settings
    with session_scope(settings.database_url) as session:
        rows, total = queries.series_list(session, project=project, state=state, page=page, per_page=per_page)
        return {"total": total, "page": page, "per_page": per_page, "series": [queries.as_dict(r) for r in rows]}


@router.get("/series/{series_id}")
def get_series(request: Request, series_id: int) -> dict[str, Any]:
    settings = request.app.state.settings
    with session_scope(settings.database_url) as session:
        detail = queries.series_detail(session, series_id)
    if detail is None:
        raise HTTPException(404, "no such series")
    return detail
