"""Retest and cancel, for the buttons and the API alike. The caller has authenticated the address;
here it must be a maintainer of the series' project."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.db.models import Run, Series
from bot.db.session import session_scope
from bot.schedule import ACTIVE, cancel_run, create_run
from bot.settings import Settings
from bot.web.auth import may_act
from bot.web.records import ActionResult

log = logging.getLogger("seriesbot.web")


class Forbidden(Exception):
    pass


class NotFound(Exception):
    pass


def retest(settings: Settings, series_id: int, address: str) -> ActionResult:
    """A new forced run of the series (unchanged patches are rebuilt too), replacing an active one."""
    with session_scope(settings.database_url) as session:
        series = session.get(Series, series_id)
        if series is None:
            raise NotFound(f"no series {series_id}")
        if not may_act(settings, address, series.project):
            raise Forbidden(f"{address} is not a maintainer of {series.project}")
        run = create_run(session, settings, series, trigger="web", requested_by=address, options={"force": True},
                         replace_active=True)
        if run is None:
            return ActionResult(False, "a run is already active for this series")
        session.flush()
        run_id = run.id
    log.info("event=web-retest series=%d run=%d by=%s", series_id, run_id, address)
    return ActionResult(True, f"run {run_id} queued", run_id)


def cancel(settings: Settings, run_id: int, address: str) -> ActionResult:
    """Queued runs stop at once; a running one at the next patch boundary."""
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}")
        if not may_act(settings, address, run.project):
            raise Forbidden(f"{address} is not a maintainer of {run.project}")
        if run.state not in ACTIVE:
            return ActionResult(False, f"run {run_id} is {run.state}: nothing to cancel", run_id)
        was_queued = run.state == "queued"
        cancel_run(session, run, reason=f"cancelled on the dashboard by {address}")
        series = session.get(Series, run.series_id)
        # a queued run never reaches a worker, whose finish() would otherwise set the series' state
        newer = session.scalar(select(Run.id).where(Run.series_id == run.series_id, Run.id > run.id).limit(1))
        if was_queued and series is not None and newer is None and series.state in ACTIVE:
            series.state = "cancelled"
    log.info("event=web-cancel run=%d by=%s", run_id, address)
    return ActionResult(True, f"run {run_id} cancelled", run_id)
