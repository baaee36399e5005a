"""Operations endpoints and `seriesbot status`, on a real database."""

from __future__ import annotations

import subprocess
import sys

from fastapi.testclient import TestClient

from bot.db.models import WorkerHeartbeat, utcnow
from bot.db.session import session_scope
from bot.health import prune_logs
from bot.web.app import create_app
from tests.fixtures_demo import demo_mails
from tests.ingest_driver import deliver


def test_health_ready_and_metrics(bot_settings):
    for raw in demo_mails("h"):
        deliver(bot_settings, raw)
    with session_scope(bot_settings.database_url) as session:
        session.add(WorkerHeartbeat(name="build0", host="h", queues=["q"], last_seen=utcnow()))
    client = TestClient(create_app(bot_settings))
    assert client.get("/healthz").text == "ok\n"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "problems": []}
    metrics = client.get("/metrics").text
    assert 'seriesbot_messages_received_total{status="parsed"} 5.0' in metrics
    assert 'seriesbot_runs{project="demo",state="queued"} 1.0' in metrics
    assert "seriesbot_workers_alive 1.0" in metrics
    assert 'seriesbot_queue_depth{queue="seriesbot.build.demo"}' in metrics
    assert "seriesbot_step_duration_seconds_bucket" in metrics


def test_not_ready_when_the_database_is_away(bot_settings):
    from dataclasses import replace

    client = TestClient(create_app(bot_settings))
    client.app.state.settings = replace(bot_settings, database_url="postgresql://nobody@127.0.0.1:1/none")
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["problems"][0].startswith("database")


def test_status_command_lists_queues_workers_and_stuck_items(bot_settings):
    for raw in demo_mails("st"):
        deliver(bot_settings, raw)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(bot_settings.config_path), "status"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "seriesbot.build.demo" in done.stdout and "runs queued (>30 min)" in done.stdout


def test_old_run_logs_are_pruned(bot_settings):
    import os
    import time

    old, new = bot_settings.logs_dir / "run-1", bot_settings.logs_dir / "run-2"
    for d in (old, new):
        d.mkdir(parents=True)
        (d / "x.log").write_text("x")
    past = time.time() - 40 * 86400
    os.utime(old, (past, past))
    assert prune_logs(bot_settings, force=True) == 1
    assert not old.exists() and new.exists()


def test_reconciler_does_not_duplicate_a_queued_run_whose_task_still_waits(bot_settings):
    import datetime as dt

    from sqlalchemy import select, update

    from bot.db.models import Run
    from bot.health import waiting_tasks
    from bot.reconcile import reconcile

    for raw in demo_mails("q"):
        deliver(bot_settings, raw)  # creates a queued run; its task sits in the filesystem broker
    queue_name = bot_settings.project("demo").queue
    with session_scope(bot_settings.database_url) as session:
        run_id = session.scalar(select(Run.id))
        session.execute(update(Run).values(created_at=utcnow() - dt.timedelta(hours=1)))
    assert waiting_tasks(bot_settings, queue_name, "workers.test_series") == {f"[{run_id}]"}
    assert reconcile(bot_settings, send_mail=False)["runs"] == 0
    for name in (bot_settings.broker_dir / "queue").iterdir():  # the broker lost it (a Redis restart)
        name.unlink()
    with session_scope(bot_settings.database_url) as session:
        session.execute(update(Run).values(enqueued_at=None))
    assert reconcile(bot_settings, send_mail=False)["runs"] == 1
    assert waiting_tasks(bot_settings, queue_name, "workers.test_series") == {f"[{run_id}]"}


def test_a_worker_without_a_sandbox_is_shown_and_counts_as_a_problem(bot_settings):
    import threading

    from workers import bwrap, sandbox

    found = bwrap.support()
    stop = threading.Event()
    from bot.health import CAPABILITIES, start_heartbeat, status

    sandbox.start(bot_settings)  # the real probe of this host, as a worker does at start
    assert CAPABILITIES["sandbox"]["available"] == found.available
    CAPABILITIES["sandbox"] = {"available": False, "mode": "none", "reason": "bwrap is not installed",
                               "summary": "NO SANDBOX: bwrap is not installed", "refusing": ["demo"]}
    try:
        start_heartbeat(bot_settings, "build-nosandbox", ["seriesbot.build.demo"], stop, interval=0.1)
        from tests.helpers import wait_for

        def seen():
            with session_scope(bot_settings.database_url) as session:
                row = session.get(WorkerHeartbeat, "build-nosandbox")
                return row is not None and row.sandbox is not None
        wait_for(seen, 30)
    finally:
        stop.set()
        CAPABILITIES.clear()
    report = status(bot_settings)
    assert any("no build sandbox (bwrap is not installed)" in p and "demo" in p for p in report.problems)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(bot_settings.config_path), "status"],
                          capture_output=True, text=True, timeout=120)
    assert "sandbox: NO SANDBOX: bwrap is not installed" in done.stdout and done.returncode == 1
    metrics = TestClient(create_app(bot_settings)).get("/metrics").text
    assert 'seriesbot_worker_sandbox{mode="none",worker="build-nosandbox"} 0.0' in metrics
