"""ASGI app factory: pages, JSON API, raw logs, and the published series repos over git's dumb
HTTP (read-only static files)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from bot.db.session import init_db
from bot.settings import Settings, get_settings
from bot.web import api, pages

HERE = Path(__file__).resolve().parent


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    init_db(settings.database_url)
    app = FastAPI(title="seriesbot", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    published = settings.data_dir / "published"
    published.mkdir(parents=True, exist_ok=True)
    app.mount("/git", StaticFiles(directory=published), name="git")
    return app
