"""Worker-side Celery tasks. test_series is safe to repeat: the pipeline claims the run by its
state and lease, and resumes at the first patch with no stored result."""

from __future__ import annotations

from celery.signals import worker_init

from bot import queue
from bot.settings import get_settings
from workers import sandbox
from workers.pipeline import run_series

app = queue.app


@worker_init.connect(weak=False)
def _sandbox_at_start(**_kwargs: object) -> None:
    sandbox.start(get_settings())  # logged, and shown by `seriesbot status` through the heartbeat


@app.task(name=queue.TEST_SERIES, acks_late=True, reject_on_worker_lost=True)
def test_series(run_id: int) -> str:
    return run_series(run_id, get_settings())
