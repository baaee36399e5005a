"""Operations: worker heartbeats, graceful-stop flag, readiness of the database and broker,
queue depths, stuck items, log retention, and Prometheus metrics computed from the database (the
truth, shared by every host) plus this process's own counters."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text

from bot.db.models import Message, OutboundMail, Run, Series, WorkerHeartbeat, utcnow
from bot.db.session import session_scope
from bot.settings import Settings

log = logging.getLogger("seriesbot.health")

SHUTTING_DOWN = threading.Event()  # set on SIGTERM: finish the current step, then hand the run back
CURRENT: dict[str, Any] = {"run_id": None}  # what this process is running (for the heartbeat)
CAPABILITIES: dict[str, Any] = {}  # what this worker can enforce, set by workers at start (the build sandbox)
ALIVE_AFTER = dt.timedelta(seconds=60)


def start_heartbeat(settings: Settings, name: str, queues: list[str], stop: threading.Event,
                    interval: float = 10.0) -> threading.Thread:
    host = socket.gethostname()

    def beat() -> None:
        while True:
            try:
                with session_scope(settings.database_url) as session:
                    row = session.get(WorkerHeartbeat, name)
                    if row is None:
                        row = WorkerHeartbeat(name=name, host=host, queues=queues, pid=os.getpid(), started_at=utcnow())
                        session.add(row)
                    row.last_seen, row.current_run_id, row.pid = utcnow(), CURRENT["run_id"], os.getpid()
                    if CAPABILITIES.get("sandbox") is not None and row.sandbox != CAPABILITIES["sandbox"]:
                        row.sandbox = CAPABILITIES["sandbox"]
            except Exception as exc:  # the database may be away for a while: keep beating
                log.warning("event=heartbeat-failed error=%r", exc)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    return thread


def database_ready(settings: Settings) -> str | None:
    try:
        with session_scope(settings.database_url) as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database: {exc.__class__.__name__}: {str(exc)[:200]}"
    return None


def broker_ready(settings: Settings) -> str | None:
    if settings.embedded_broker:
        from bot.queue import configure

        try:
            configure(settings)  # makes the folders when this process has not enqueued yet
        except OSError as exc:
            return f"broker folder: {exc}"
        folder = settings.broker_dir / "queue"
        return None if folder.is_dir() and os.access(folder, os.W_OK) else f"broker folder {folder} not writable"
    from kombu import Connection

    try:
        with Connection(settings.broker_url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return f"broker: {exc.__class__.__name__}: {str(exc)[:200]}"
    return None


def queue_depths(settings: Settings) -> dict[str, int]:
    from bot.queue import LIGHT_QUEUE

    names = [LIGHT_QUEUE, *(p.queue for p in settings.projects.values())]
    depths: dict[str, int] = {}
    if settings.embedded_broker:
        folder = settings.broker_dir / "queue"
        files = os.listdir(folder) if folder.is_dir() else []
        for name in names:
            depths[name] = sum(1 for f in files if f.partition(".")[2] == f"{name}.msg")
        return depths
    try:
        import redis

        client = redis.Redis.from_url(settings.broker_url, socket_timeout=3)
        for name in names:
            depths[name] = int(client.llen(name))
    except Exception as exc:
        log.warning("event=queue-depth-failed error=%r", exc)
    return depths


def waiting_tasks(settings: Settings, queue_name: str, task: str, limit: int = 10000) -> set[str] | None:
    """The argument lists (as their repr, e.g. "[42]") of `task` messages waiting in a queue, or None
    when the broker cannot be read (then the caller must assume nothing is waiting)."""
    import json

    def args_of(raw: bytes | str) -> str | None:
        try:
            message = json.loads(raw)
            headers = message.get("headers") or {}
            return headers.get("argsrepr") if headers.get("task") == task else None
        except (ValueError, AttributeError):
            return None

    found: set[str] = set()
    try:
        if settings.embedded_broker:
            folder = settings.broker_dir / "queue"
            for name in os.listdir(folder)[:limit]:
                if name.partition(".")[2] == f"{queue_name}.msg":
                    try:
                        value = args_of((folder / name).read_bytes())
                    except OSError:
                        continue  # taken by a worker meanwhile
                    if value:
                        found.add(value)
            return found
        import redis

        client = redis.Redis.from_url(settings.broker_url, socket_timeout=3)
        for raw in client.lrange(queue_name, 0, limit - 1):
            value = args_of(raw)
            if value:
                found.add(value)
        return found
    except Exception as exc:
        log.warning("event=queue-read-failed queue=%s error=%r", queue_name, exc)
        return None


@dataclass
class StatusReport:
    queues: dict[str, int]
    workers: list[dict[str, Any]]
    running: list[dict[str, Any]]
    stuck: dict[str, int]
    problems: list[str] = field(default_factory=list)


def status(settings: Settings) -> StatusReport:
    now = utcnow()
    problems = [p for p in (database_ready(settings), broker_ready(settings)) if p]
    workers: list[dict[str, Any]] = []
    running: list[dict[str, Any]] = []
    stuck: dict[str, int] = {}
    if not problems or not problems[0].startswith("database"):
        with session_scope(settings.database_url) as session:
            for w in session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name)):
                workers.append({"name": w.name, "host": w.host, "queues": w.queues, "alive": now - w.last_seen < ALIVE_AFTER,
                                "last_seen": w.last_seen.isoformat(), "run": w.current_run_id, "sandbox": w.sandbox})
                alive = now - w.last_seen < ALIVE_AFTER
                if alive and w.sandbox and not w.sandbox.get("available") and w.sandbox.get("refusing") \
                        and any(".build." in q for q in w.queues):
                    problems.append(f"worker {w.name}: no build sandbox ({w.sandbox.get('reason')}); projects that "
                                    f"require it are not run there: {', '.join(w.sandbox.get('refusing') or []) or '-'}")
            for r in session.scalars(select(Run).where(Run.state == "running")):
                running.append({"run": r.id, "series": r.series_id, "project": r.project, "worker": r.worker,
                                "lease_until": r.lease_until.isoformat() if r.lease_until else None,
                                "lease_expired": bool(r.lease_until and r.lease_until < now)})
            stuck["messages stored, not ingested (>5 min)"] = session.scalar(select(func.count(Message.id)).where(
                Message.status == "stored", Message.received_at < now - dt.timedelta(minutes=5))) or 0
            stuck["runs queued (>30 min)"] = session.scalar(select(func.count(Run.id)).where(
                Run.state == "queued", Run.created_at < now - dt.timedelta(minutes=30))) or 0
            stuck["runs with an expired lease"] = sum(1 for r in running if r["lease_expired"])
            stuck["mails pending (>10 min)"] = session.scalar(select(func.count(OutboundMail.id)).where(
                OutboundMail.state.in_(("pending", "sending")),
                OutboundMail.created_at < now - dt.timedelta(minutes=10))) or 0
            stuck["mails failed for good"] = session.scalar(select(func.count(OutboundMail.id)).where(
                OutboundMail.state == "failed")) or 0
    return StatusReport(queue_depths(settings), workers, running, stuck, problems)


_last_prune = 0.0


def prune_logs(settings: Settings, *, force: bool = False) -> int:
    """Delete run log folders older than the retention setting (at most once an hour)."""
    global _last_prune
    if not force and time.monotonic() - _last_prune < 3600:
        return 0
    _last_prune = time.monotonic()
    cutoff = time.time() - settings.logs_retention_days * 86400
    removed = 0
    if not settings.logs_dir.is_dir():
        return 0
    for path in settings.logs_dir.glob("run-*"):
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path)
                removed += 1
        except OSError:
            continue
    if removed:
        log.info("event=logs-pruned count=%d older_than_days=%s", removed, settings.logs_retention_days)
    return removed


def metrics_text(settings: Settings) -> bytes:
    """Prometheus exposition, computed from the database so every host's work is counted."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    class DatabaseCollector:
        def collect(self):  # type: ignore[no-untyped-def]
            with session_scope(settings.database_url) as session:
                received = CounterMetricFamily("seriesbot_messages_received", "Mails stored, by status",
                                               labels=["status"])
                for status_, count in session.execute(select(Message.status, func.count()).group_by(Message.status)):
                    received.add_metric([status_], count)
                yield received
                series = CounterMetricFamily("seriesbot_series_assembled", "Series assembled, by state",
                                             labels=["project", "state"])
                for project, state, count in session.execute(
                        select(Series.project, Series.state, func.count()).group_by(Series.project, Series.state)):
                    series.add_metric([project, state], count)
                yield series
                runs = GaugeMetricFamily("seriesbot_runs", "Runs by state", labels=["project", "state"])
                for project, state, count in session.execute(
                        select(Run.project, Run.state, func.count()).group_by(Run.project, Run.state)):
                    runs.add_metric([project, state], count)
                yield runs
                mails = CounterMetricFamily("seriesbot_mails", "Outbound mails by state (sent, failed, pending)",
                                            labels=["state"])
                for state, count in session.execute(select(OutboundMail.state, func.count())
                                                    .group_by(OutboundMail.state)):
                    mails.add_metric([state], count)
                yield mails
                alive = GaugeMetricFamily("seriesbot_workers_alive", "Workers with a recent heartbeat")
                alive.add_metric([], session.scalar(select(func.count(WorkerHeartbeat.name)).where(
                    WorkerHeartbeat.last_seen > utcnow() - ALIVE_AFTER)) or 0)
                yield alive
                sandbox = GaugeMetricFamily("seriesbot_worker_sandbox",
                                            "1 when a live worker can run build steps in the sandbox",
                                            labels=["worker", "mode"])
                for w in session.scalars(select(WorkerHeartbeat).where(
                        WorkerHeartbeat.last_seen > utcnow() - ALIVE_AFTER, WorkerHeartbeat.sandbox.is_not(None))):
                    sandbox.add_metric([w.name, str(w.sandbox.get("mode", ""))], 1 if w.sandbox.get("available") else 0)
                yield sandbox
                yield _durations(session)
                yield from _ccache(session)
            depth = GaugeMetricFamily("seriesbot_queue_depth", "Tasks waiting in the broker", labels=["queue"])
            for name, count in queue_depths(settings).items():
                depth.add_metric([name], count)
            yield depth

    def _durations(session):  # type: ignore[no-untyped-def]
        from bot.db.models import PatchResult

        buckets = (0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf"))
        family = HistogramMetricFamily("seriesbot_step_duration_seconds",
                                       "Step durations of the last 2000 patch results", labels=["step"])
        rows = session.scalars(select(PatchResult.durations).order_by(PatchResult.id.desc()).limit(2000)).all()
        for step in ("checkout", "build", "test", "rules"):
            values = [float(d[step]) for d in rows if isinstance(d, dict) and isinstance(d.get(step), int | float)]
            counts = [sum(1 for v in values if v <= b) for b in buckets]
            family.add_metric([step], [(str(b) if b != float("inf") else "+Inf", c) for b, c in zip(buckets, counts,
                                                                                                  strict=True)],
                              sum(values))
        return family

    def _ccache(session):  # type: ignore[no-untyped-def]
        """The compiler cache in the builds of the last 2000 patch results: compiles by outcome, and
        the hit rate over them (hits / (hits + misses))."""
        from bot.db.models import PatchResult

        rows = session.scalars(select(PatchResult.details["ccache"]).where(PatchResult.build != "skip")
                               .order_by(PatchResult.id.desc()).limit(2000)).all()
        totals = {"hit": 0, "miss": 0, "uncacheable": 0}
        for row in rows:
            if isinstance(row, dict):
                for key, name in (("hit", "hits"), ("miss", "misses"), ("uncacheable", "uncacheable")):
                    value = row.get(name)
                    totals[key] += value if isinstance(value, int) and not isinstance(value, bool) else 0
        compiles = CounterMetricFamily("seriesbot_ccache_compiles", "Compiles of the last 2000 patch builds by "
                                       "compiler-cache outcome", labels=["result"])
        for key, value in totals.items():
            compiles.add_metric([key], value)
        yield compiles
        rate = GaugeMetricFamily("seriesbot_ccache_hit_ratio", "ccache hits / (hits + misses) over the last 2000 "
                                 "patch builds (NaN: no cached compile yet)")
        looked_up = totals["hit"] + totals["miss"]
        rate.add_metric([], totals["hit"] / looked_up if looked_up else float("nan"))
        yield rate

    registry = CollectorRegistry()
    registry.register(DatabaseCollector())  # type: ignore[arg-type]
    return generate_latest(registry)
