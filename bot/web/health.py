"""/healthz (the process answers), /readyz (database and broker reached) and /metrics
(Prometheus, computed from the database so every host's work counts)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from bot import health

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok\n")


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    problems = [p for p in (await run_in_threadpool(health.database_ready, settings),
                            await run_in_threadpool(health.broker_ready, settings)) if p]
    return JSONResponse({"ready": not problems, "problems": problems}, status_code=503 if problems else 200)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(health.metrics_text, request.app.state.settings)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
