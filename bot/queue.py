"""The Celery app, task names, and enqueue-after-commit.

The database is the source of truth; the broker only carries work that the database can recreate
(see bot.reconcile). So tasks carry row ids only, and every task is idempotent by those ids.

Embedded default: kombu's filesystem transport (a folder under the data directory). It needs no
server, is shared by every local process, and survives restarts as plain files; its lack of late
acknowledgement is covered by the reconciler, which re-enqueues from the database whatever should be
running but is not. Production: Redis, with the visibility timeout longer than the longest run.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.settings import Settings, get_settings

log = logging.getLogger("seriesbot.queue")

LIGHT_QUEUE = "seriesbot.light"

# Task names: the only coupling between bot/ and workers/.
INGEST = "bot.ingest"
SEND_OUTBOX = "bot.send_outbox"
REPORT_PATCH = "bot.report_patch"
REPORT_RUN = "bot.report_run"
RECONCILE = "bot.reconcile"
TEST_SERIES = "workers.test_series"

LONGEST_RUN_SECONDS = 6 * 3600
OUTBOX_BUDGET_SECONDS = 120  # bot.report.outbox.deliver_pending's default budget

app = Celery("seriesbot")
_configured_for: str | None = None


def configure(settings: Settings | None = None) -> Celery:
    """Point the app at the configured broker. Safe to call more than once."""
    global _configured_for
    settings = settings or get_settings()
    if _configured_for == settings.broker_url + str(settings.data_dir):
        return app
    if _configured_for is not None:
        # another configuration in the same process (tests): drop connections made for the old one
        app.close()
        app.amqp._producer_pool = None
    transport_options: dict[str, Any]
    if settings.embedded_broker:
        folder = settings.broker_dir / "queue"
        processed = settings.broker_dir / "processed"
        control = settings.broker_dir / "control"
        for path in (folder, processed, control):
            path.mkdir(parents=True, exist_ok=True)
        transport_options = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
            "polling_interval": 0.2,
        }
    else:
        transport_options = {"visibility_timeout": LONGEST_RUN_SECONDS + 3600}
    send_limit = max(900, int(OUTBOX_BUDGET_SECONDS + settings.smtp_out.stale_after_seconds + 60))
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=LIGHT_QUEUE,
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_pool_limit=4,
        task_annotations={
            TEST_SERIES: {"time_limit": LONGEST_RUN_SECONDS + 600, "soft_time_limit": LONGEST_RUN_SECONDS},
            INGEST: {"time_limit": 300}, REPORT_PATCH: {"time_limit": 300}, REPORT_RUN: {"time_limit": 300},
            # room for the outbox's claiming budget plus one send that waits the whole data_timeout
            SEND_OUTBOX: {"time_limit": send_limit}, RECONCILE: {"time_limit": send_limit},
        },
    )
    _configured_for = settings.broker_url + str(settings.data_dir)
    return app


def enqueue(name: str, *args: Any, queue: str = LIGHT_QUEUE, countdown: float | None = None) -> None:
    """Send a task by name. A broker that is down is logged, not raised: the reconciler
    re-enqueues from the database, so the caller's committed work is never lost."""
    configure()
    try:
        app.send_task(name, args=list(args), queue=queue, countdown=countdown)
    except Exception as exc:  # kombu raises many types for a broker that is away
        log.warning("event=enqueue-failed task=%s args=%s error=%r", name, args, exc)


def enqueue_after_commit(session: Session, name: str, *args: Any, queue: str = LIGHT_QUEUE) -> None:
    """Enqueue once the surrounding transaction has committed (never for rolled-back work)."""

    def _send(_session: Session) -> None:
        enqueue(name, *args, queue=queue)

    event.listen(session, "after_commit", _send, once=True)
