"""HTML pages over the read side (queries, detail). Every template is autoescaped; every action is
a POST with a CSRF token from a signed-in maintainer; all pages work without JavaScript (live.js
only refreshes parts of them in place)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from bot.db.session import session_scope
from bot.settings import Settings
from bot.web import actions, auth, detail, logs, queries, rangediff
from bot.web.limits import FilterText, FromParam, PathId, QueryText, RunParam
from bot.web.query import format_query, list_query, parse, with_term
from bot.web.records import STEPS, RunDetail, SeriesDetail
from bot.web.templating import templates

router = APIRouter(include_in_schema=False)


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    settings = _settings(request)
    user = auth.current_user(settings, request)
    base = {"user": user, "csrf": auth.csrf_token(settings, request) if user else "",
            "msg": request.query_params.get("msg", "")[:300], "public_url": settings.public_url}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


@router.get("/", response_class=HTMLResponse)
def series_list_page(request: Request, q: QueryText = None, page: int = Query(1, ge=1),
                     project: FilterText = None, state: FilterText = None, author: FilterText = None):
    settings = _settings(request)
    query = parse(list_query(q, project, state, author))
    with session_scope(settings.database_url) as session:
        result = queries.series_list(session, query, page=page)
    active = any(r.run_state in queries.ACTIVE or r.state in queries.ACTIVE for r in result.series)

    def link(**changes: Any) -> str:
        params = {"q": result.query, "page": result.page, **changes}
        return "/?" + urlencode({k: v for k, v in params.items() if v not in ("", None, 1)})

    def author_link(email: str) -> str:
        return "/?" + urlencode({"q": format_query(with_term(query, "author", email))})

    return _page(request, "series_list.html", {
        "result": result, "active": active, "link": link, "author_link": author_link,
        "projects": sorted(settings.projects), "api_url": "/api/series?" + urlencode(
            {"q": result.query, "page": result.page})})


@router.get("/projects", response_class=HTMLResponse)
def overview_page(request: Request):
    settings = _settings(request)
    with session_scope(settings.database_url) as session:
        data = queries.overview(session, settings)
    return _page(request, "overview.html", {"o": data})


def _tails(settings: Settings, s: SeriesDetail) -> dict[str, tuple[str, bool]]:
    """The end of each step log of the shown run, for the expandable log boxes."""
    out: dict[str, tuple[str, bool]] = {}
    if s.runs:
        for r in s.runs[0].results:
            for step, path in r.logs.items():
                found = logs.tail(settings.logs_dir, path)
                if found is not None:
                    out[f"{r.index}:{step}"] = found
    return out


def _series_context(request: Request, series_id: int, run: int | None) -> dict[str, Any]:
    settings = _settings(request)
    with session_scope(settings.database_url) as session:
        s = detail.series_detail(session, series_id, run_id=run)
    if s is None:
        raise HTTPException(404, "no such series")
    user = auth.current_user(settings, request)
    latest = max(s.runs, key=lambda r: r.id) if s.runs else None
    return {"s": s, "run": s.runs[0] if s.runs else None, "steps": STEPS, "tails": _tails(settings, s),
            "can_act": auth.may_act(settings, user, s.project),
            "active": s.state in queries.ACTIVE or (latest is not None and latest.state in queries.ACTIVE)}


@router.get("/series/{series_id}", response_class=HTMLResponse)
def series_page(request: Request, series_id: PathId, run: RunParam = None):
    return _page(request, "series.html", _series_context(request, series_id, run))


@router.get("/series/{series_id}/fragment", response_class=HTMLResponse)
def series_fragment(request: Request, series_id: PathId, run: RunParam = None):
    """The live part of the series page, for live.js to swap in when the live token changes."""
    return _page(request, "_series_body.html", _series_context(request, series_id, run))


@router.get("/series/{series_id}/range-diff", response_class=HTMLResponse)
def range_diff_page(request: Request, series_id: PathId, from_: FromParam):
    settings = _settings(request)
    with session_scope(settings.database_url) as session:
        result = rangediff.range_diff(session, settings, from_, series_id)
        s = detail.series_detail(session, series_id)
    if result is None or s is None:
        raise HTTPException(404, "no such series")
    return _page(request, "range_diff.html", {"r": result, "s": s})


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: PathId) -> RedirectResponse:
    with session_scope(_settings(request).database_url) as session:
        run = detail.get_run(session, run_id)
    if run is None:
        raise HTTPException(404, "no such run")
    return RedirectResponse(f"/series/{run.series_id}?run={run.id}#matrix", status_code=303)


@router.get("/logs/{path:path}")
def log_page(request: Request, path: str, offset: int = Query(0, ge=0), raw: bool = False) -> Response:
    settings = _settings(request)
    if raw:
        target = logs.resolve(settings.logs_dir, path)
        if target is None:
            raise HTTPException(404, "no such log")
        return StreamingResponse(logs.stream(target), media_type="text/plain; charset=utf-8")
    chunk = logs.read_page(settings.logs_dir, path, offset)
    if chunk is None:
        raise HTTPException(404, "no such log")
    return _page(request, "log.html", {"c": chunk, "page_size": logs.PAGE})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/"):
    return _page(request, "login.html", {"next": _safe_next(next), "error": ""})


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@router.post("/login")
async def login(request: Request) -> Response:
    settings = _settings(request)
    form = await auth.read_form(request)
    address = auth.check_login(settings, form.get("address", ""), form.get("token", ""))
    target = _safe_next(form.get("next", "/"))
    if address is None or not auth.same_origin(request):
        return _page(request, "login.html", {"next": target, "error": "Unknown address or wrong token."}, 403)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(auth.COOKIE, auth.make_session(settings, address), max_age=auth.SESSION_SECONDS,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    settings = _settings(request)
    form = await auth.read_form(request)
    if not auth.csrf_ok(settings, request, form.get("csrf", "")):
        raise HTTPException(403, "bad or missing CSRF token")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/")
    return response


async def _action(request: Request, series_id: int, call: Any) -> Response:
    settings = _settings(request)
    form = await auth.read_form(request)
    user = auth.current_user(settings, request)
    if user is None:
        return RedirectResponse(f"/login?next=/series/{series_id}", status_code=303)
    if not auth.csrf_ok(settings, request, form.get("csrf", "")):
        raise HTTPException(403, "bad or missing CSRF token")
    try:
        result = await run_in_threadpool(call, settings, user)
    except actions.Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    except actions.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return RedirectResponse(f"/series/{series_id}?{urlencode({'msg': result.message})}#runs", status_code=303)


@router.post("/series/{series_id}/retest")
async def retest_button(request: Request, series_id: PathId) -> Response:
    return await _action(request, series_id, lambda settings, user: actions.retest(settings, series_id, user))


def _get_run(settings: Settings, run_id: int) -> RunDetail | None:
    with session_scope(settings.database_url) as session:
        return detail.get_run(session, run_id)


@router.post("/runs/{run_id}/cancel")
async def cancel_button(request: Request, run_id: PathId) -> Response:
    run = await run_in_threadpool(_get_run, _settings(request), run_id)
    if run is None:
        raise HTTPException(404, "no such run")
    return await _action(request, run.series_id, lambda settings, user: actions.cancel(settings, run_id, user))
