"""Create a Run and enqueue workers.test_series after the commit. At most one active run per
series and trigger: a redelivered event or a second click does not start a second run."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import queue
from bot.db.models import Run, Series
from bot.settings import Settings

log = logging.getLogger("seriesbot.schedule")

ACTIVE = ("queued", "running")


def active_run(session: Session, series_id: int) -> Run | None:
    return session.scalar(select(Run).where(Run.series_id == series_id, Run.state.in_(ACTIVE)).limit(1))


def create_run(
    session: Session,
    settings: Settings,
    series: Series,
    *,
    trigger: str,
    requested_by: str = "",
    options: dict[str, Any] | None = None,
    replace_active: bool = False,
) -> Run | None:
    """A new queued run for the series, or None when one is already active for it."""
    current = active_run(session, series.id)
    if current is not None:
        if not replace_active:
            return None
        cancel_run(session, current, reason=f"replaced by a {trigger} run")
    project = settings.project(series.project)
    run = Run(series_id=series.id, project=series.project, trigger=trigger, requested_by=requested_by,
              options=options or {}, state="queued")
    session.add(run)
    series.state = "queued"
    session.flush()
    queue.enqueue_after_commit(session, queue.TEST_SERIES, run.id, queue=project.queue)
    log.info("event=run-created run=%d series=%d trigger=%s", run.id, series.id, trigger)
    return run


def cancel_run(session: Session, run: Run, *, reason: str) -> None:
    """Queued runs stop at once; a running one stops at the next patch boundary (the worker
    re-reads its state before each patch)."""
    if run.state in ACTIVE:
        was_queued = run.state == "queued"
        run.state = "cancelled"
        run.error = reason
        series = run.series
        if was_queued and series is not None and series.state == "queued":
            series.state = "cancelled"  # a running run sets it when it stops at the next boundary
        log.info("event=run-cancelled run=%d reason=%s", run.id, reason)
