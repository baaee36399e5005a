"""Bot-side Celery tasks: each a thin call into its stage, idempotent by the row id it carries."""

from __future__ import annotations

from bot import queue
from bot.ingest.ingest import ingest_message
from bot.reconcile import reconcile as reconcile_now
from bot.report import report
from bot.report.outbox import deliver_pending
from bot.settings import get_settings

app = queue.app


@app.task(name=queue.INGEST)
def ingest(message_pk: int) -> str:
    return ingest_message(message_pk, get_settings())


@app.task(name=queue.REPORT_PATCH)
def report_patch(result_id: int) -> bool:
    queued = report.report_patch(result_id, get_settings())
    if queued:
        queue.enqueue(queue.SEND_OUTBOX)
    return queued


@app.task(name=queue.REPORT_RUN)
def report_run(run_id: int) -> bool:
    queued = report.report_run(run_id, get_settings())
    if queued:
        queue.enqueue(queue.SEND_OUTBOX)
    return queued


@app.task(name=queue.SEND_OUTBOX)
def send_outbox() -> dict[str, int]:
    return deliver_pending(get_settings())


@app.task(name=queue.RECONCILE)
def reconcile() -> dict[str, int]:
    return reconcile_now(get_settings())
