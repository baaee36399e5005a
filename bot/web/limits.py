"""What a request may carry before it reaches a handler, and how a refusal reads. Every id in a path
or query fits the id columns (INTEGER: 32-bit signed on PostgreSQL, which fails on more, as SQLite
does past 64 bits); no URL carries a NUL
byte (PostgreSQL's text type cannot hold one) or runs past MAX_URL; a query text stays far below
SQLite's 50,000-byte LIKE pattern limit. A refusal is a short plain sentence (JSON under /api/),
never a stack trace."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_ID = 2**31 - 1
MAX_URL = 8192
MAX_QUERY = 1000

PathId = Annotated[int, Path(ge=0, le=MAX_ID)]
RunParam = Annotated[int | None, Query(ge=0, le=MAX_ID)]
FromParam = Annotated[int, Query(alias="from", ge=0, le=MAX_ID)]
QueryText = Annotated[str | None, Query(max_length=MAX_QUERY)]
FilterText = Annotated[str | None, Query(max_length=MAX_QUERY)]


def refusal(path: str, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code < 400 or exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return refusal(request.url.path, exc.status_code, str(exc.detail), exc.headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    """Which parameter was wrong and why, without echoing the input back."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return refusal(request.url.path, 422, "bad request: " + "; ".join(parts))


class RequestLimits:
    """Refuses a NUL byte anywhere in the URL and an over-long URL before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            query: bytes = scope.get("query_string", b"")
            raw = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
            response = None
            if len(raw) + len(query) > MAX_URL:
                response = refusal(path, 414, f"the URL is longer than {MAX_URL} bytes")
            elif "\x00" in path or b"%00" in query.lower() or b"\x00" in query:
                response = refusal(path, 400, "a NUL byte is not allowed in a URL")
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
