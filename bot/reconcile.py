"""The database is the truth: re-enqueue from it whatever should be moving but is not.

Covers a crash between a commit and its enqueue, a broker that lost its queue (a Redis restart, the
filesystem broker's early acknowledgement), a worker that died holding a run, a relay that was down,
and series that never completed."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import or_, select

from bot import queue
from bot.db.models import Message, OutboundMail, PatchResult, Run, Series, utcnow
from bot.db.session import session_scope
from bot.health import prune_logs, waiting_tasks
from bot.report.outbox import deliver_pending
from bot.report.report import report_incomplete
from bot.settings import Settings

log = logging.getLogger("seriesbot.reconcile")



def reconcile(settings: Settings, send_mail: bool = True) -> dict[str, int]:
    now = utcnow()
    # how long something may sit between a commit and its task before we act, scaled by the loop period
    period = settings.worker.reconcile_seconds
    grace = dt.timedelta(seconds=max(2 * period, 2.0))
    stored_grace = report_grace = grace
    reenqueue_after = dt.timedelta(seconds=max(4 * period, 4.0))
    counts = {"ingest": 0, "runs": 0, "reports": 0, "summaries": 0, "incomplete": 0}
    incomplete: list[int] = []
    with session_scope(settings.database_url) as session:
        for msg in session.scalars(select(Message).where(
                Message.status == "stored", Message.received_at < now - stored_grace,
                or_(Message.enqueued_at.is_(None), Message.enqueued_at < now - reenqueue_after)).limit(500)):
            msg.enqueued_at = now
            queue.enqueue_after_commit(session, queue.INGEST, msg.id)
            counts["ingest"] += 1
        waiting: dict[str, set[str] | None] = {}
        for run in session.scalars(select(Run).where(
                or_(Run.state == "queued", (Run.state == "running") & (Run.lease_until < now)),
                Run.created_at < now - stored_grace,
                or_(Run.enqueued_at.is_(None), Run.enqueued_at < now - reenqueue_after)).limit(200)):
            project = settings.projects.get(run.project)
            if project is None:
                continue
            if project.queue not in waiting:
                waiting[project.queue] = waiting_tasks(settings, project.queue, queue.TEST_SERIES)
            pending = waiting[project.queue]
            run.enqueued_at = now
            if run.state == "queued" and pending is not None and f"[{run.id}]" in pending:
                continue  # its task is still in the queue, waiting behind a long build: no duplicate
            queue.enqueue_after_commit(session, queue.TEST_SERIES, run.id, queue=project.queue)
            counts["runs"] += 1
        for result_id in session.scalars(select(PatchResult.id).where(
                PatchResult.reported.is_(False), PatchResult.verdict.notin_(("pending", "running")),
                PatchResult.created_at < now - report_grace).limit(500)):
            queue.enqueue_after_commit(session, queue.REPORT_PATCH, result_id)
            counts["reports"] += 1
        for run_id in session.scalars(select(Run.id).where(
                Run.reported.is_(False), Run.state.in_(("done", "error")),
                Run.finished_at < now - report_grace).limit(200)):
            queue.enqueue_after_commit(session, queue.REPORT_RUN, run_id)
            counts["summaries"] += 1
        for project in settings.projects.values():
            cutoff = now - dt.timedelta(seconds=project.incomplete_after)
            for series in session.scalars(select(Series).where(
                    Series.project == project.name, Series.state == "partial", Series.last_message_at < cutoff)):
                series.state = "incomplete"
                counts["incomplete"] += 1
                incomplete.append(series.id)
    for series_id in incomplete:
        report_incomplete(series_id, settings)
    prune_logs(settings)
    if send_mail and has_due_mail(settings):
        deliver_pending(settings)
    if any(counts.values()):
        log.info("event=reconciled %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def has_due_mail(settings: Settings) -> bool:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(OutboundMail.id).where(
            OutboundMail.state.in_(("pending", "sending")), OutboundMail.next_attempt_at <= utcnow()).limit(1)) is not None


def start_reconciler(settings: Settings, stop: threading.Event) -> threading.Thread:
    """A loop in the worker process (no separate beat process needed)."""

    def loop() -> None:
        while not stop.wait(settings.worker.reconcile_seconds):
            try:
                reconcile(settings)
            except Exception:
                log.exception("event=reconcile-failed")

    thread = threading.Thread(target=loop, name="reconciler", daemon=True)
    thread.start()
    return thread
