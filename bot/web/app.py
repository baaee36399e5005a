"""ASGI app factory: pages, JSON API (OpenAPI at /api/openapi.json, browsable at /api/docs), feeds
and badges, raw logs, and the published series repos over git's dumb HTTP (read-only files)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.db.session import init_db
from bot.settings import Settings, get_settings
from bot.web import api, auth, feeds, health, limits, pages

HERE = Path(__file__).resolve().parent
# Defence in depth behind autoescaping: no inline script, nothing from other sites, no framing.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY")]


class SecurityHeaders:
    """Adds the headers above to every response (CSP except on the API's Swagger page, which loads
    its own script)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with_csp = not scope["path"].startswith("/api/docs")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                if with_csp:
                    headers.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    init_db(settings.database_url)
    auth.secret_key(settings)  # made (or read) once at start, not on a first sign-in
    app = FastAPI(title="seriesbot", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  redoc_url=None, description="Mailing-list CI: series, runs, per-patch results, logs. "
                  "Read freely; retest and cancel need a maintainer's token as a Bearer header.")
    app.state.settings = settings
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    published = settings.data_dir / "published"
    published.mkdir(parents=True, exist_ok=True)
    app.mount("/git", StaticFiles(directory=published), name="git")
    app.add_exception_handler(HTTPException, limits.http_error)
    app.add_exception_handler(RequestValidationError, limits.validation_error)
    app.add_middleware(limits.RequestLimits)
    app.add_middleware(SecurityHeaders)
    return app
