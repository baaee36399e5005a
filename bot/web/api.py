"""JSON API: everything the pages show, from the same queries and records, with the same query
language and paging. Schema: /api/openapi.json (browsable at /api/docs). Actions take the
maintainer's token as `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from bot.db.session import session_scope
from bot.settings import Settings
from bot.web import actions, auth, detail, logs, queries, rangediff
from bot.web.limits import MAX_QUERY, FilterText, FromParam, PathId, RunParam
from bot.web.query import list_query, parse
from bot.web.records import (
    ActionResult,
    LiveStatus,
    LogChunk,
    Overview,
    PatchLookup,
    RangeDiff,
    RunDetail,
    SeriesDetail,
    SeriesPage,
)

router = APIRouter(prefix="/api", tags=["api"])
bearer = HTTPBearer(auto_error=False, description="a maintainer's token (SERIESBOT_WEB_LOGINS)")


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


@router.get("/projects", response_model=Overview)
def projects(request: Request) -> Overview:
    """Per project: series of the last day and week, passed and failed, queue, running runs; workers."""
    settings = _settings(request)
    with session_scope(settings.database_url) as session:
        return queries.overview(session, settings)


@router.get("/series", response_model=SeriesPage)
def list_series(request: Request, q: str = Query("", max_length=MAX_QUERY,
                                                description="e.g. `project:demo state:failed author:ada words`"),
                page: int = Query(1, ge=1, le=queries.MAX_PAGE), per_page: int = Query(queries.PER_PAGE, ge=1, le=200),
                project: FilterText = None, state: FilterText = None, author: FilterText = None) -> SeriesPage:
    """Series, newest first, one page; `q` is the dashboard's query language."""
    query = parse(list_query(q, project, state, author))
    if query.errors:
        raise HTTPException(400, "; ".join(query.errors))
    with session_scope(_settings(request).database_url) as session:
        return queries.series_list(session, query, page=page, per_page=per_page)


@router.get("/series/{series_id}", response_model=SeriesDetail)
def get_series(request: Request, series_id: PathId, run: RunParam = None) -> SeriesDetail:
    """One series: versions, patches with trailers, every run (newest first) with results and
    findings, commands received, mails sent."""
    with session_scope(_settings(request).database_url) as session:
        found = detail.series_detail(session, series_id, run_id=run)
    if found is None:
        raise HTTPException(404, "no such series")
    return found


@router.get("/series/{series_id}/live", response_model=LiveStatus)
def live(request: Request, series_id: PathId) -> LiveStatus:
    """The latest run's matrix; `live` changes whenever the series page would."""
    with session_scope(_settings(request).database_url) as session:
        found = detail.live_status(session, series_id)
    if found is None:
        raise HTTPException(404, "no such series")
    return found


@router.get("/series/{series_id}/range-diff", response_model=RangeDiff)
def range_diff(request: Request, series_id: PathId, from_: FromParam) -> RangeDiff:
    """`git range-diff` from another version (`from`, a series id) to this one."""
    settings = _settings(request)
    with session_scope(settings.database_url) as session:
        found = rangediff.range_diff(session, settings, from_, series_id)
    if found is None:
        raise HTTPException(404, "no such series")
    return found


@router.get("/runs/{run_id}", response_model=RunDetail)
def get_run(request: Request, run_id: PathId) -> RunDetail:
    with session_scope(_settings(request).database_url) as session:
        found = detail.get_run(session, run_id)
    if found is None:
        raise HTTPException(404, "no such run")
    return found


@router.get("/logs/{path:path}", response_model=LogChunk)
def get_log(request: Request, path: str, offset: int = Query(0, ge=0),
            limit: int = Query(logs.PAGE, ge=1, le=4 * logs.PAGE)) -> LogChunk:
    """Part of a step log (paths as in a result's `logs`); follow `next_offset`. Raw: /logs/<path>?raw=1."""
    chunk = logs.read_page(_settings(request).logs_dir, path, offset, limit)
    if chunk is None:
        raise HTTPException(404, "no such log")
    return chunk


@router.get("/patch-results", response_model=PatchLookup)
def patch_results(request: Request, msgid: str = Query(..., min_length=1, max_length=998)) -> PatchLookup:
    """A patch (or cover letter) by Message-ID, with its series' latest run (b4-check uses this)."""
    settings = _settings(request)
    with session_scope(settings.database_url) as session:
        found = detail.lookup_message(session, settings, msgid)
    if found is None:
        raise HTTPException(404, "no patch or cover letter with this Message-ID")
    return found


def _user(request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    user = auth.bearer_user(_settings(request), request)
    if user is None:
        raise HTTPException(401, "a maintainer's token is needed", headers={"WWW-Authenticate": "Bearer"})
    return user


async def _act(call, *args: object) -> ActionResult:  # type: ignore[no-untyped-def]
    try:
        return await run_in_threadpool(call, *args)  # type: ignore[no-any-return]
    except actions.Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    except actions.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post("/series/{series_id}/retest", response_model=ActionResult)
async def retest(request: Request, series_id: PathId, user: Annotated[str, Depends(_user)]) -> ActionResult:
    """A new forced run of the series, replacing an active one (the project's maintainers only)."""
    return await _act(actions.retest, _settings(request), series_id, user)


@router.post("/runs/{run_id}/cancel", response_model=ActionResult)
async def cancel(request: Request, run_id: PathId, user: Annotated[str, Depends(_user)]) -> ActionResult:
    """Cancel a queued or running run (the project's maintainers only)."""
    return await _act(actions.cancel, _settings(request), run_id, user)
