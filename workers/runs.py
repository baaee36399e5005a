"""A run's life in the database: claimed by one worker under a lease kept alive by a heartbeat,
handed back (shutdown, lost lease), retried on infrastructure faults, finished. The pipeline only
calls these; every state change of a Run row is here."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from bot import queue
from bot.db.models import Message, Patch, PatchResult, Run, Series, utcnow
from bot.db.session import session_scope
from bot.records import Status
from bot.settings import ProjectSettings, Settings
from workers.judge import PatchState

log = logging.getLogger("seriesbot.runs")

INFRA_RETRIES = 3
RETRY_DELAY = 30.0  # seconds, times the attempt number


@dataclass(frozen=True)
class PatchInput:
    pk: int
    index: int
    subject: str
    raw: bytes


@dataclass
class RunPlan:
    run_id: int
    series_id: int
    project: ProjectSettings
    patches: list[PatchInput]
    patch_ids: list[str | None]
    options: dict[str, Any]
    base_commit: str | None
    done_indexes: set[int] = field(default_factory=set)
    # what the series says it sits on: another series (Based-on:) or patches (prerequisite-patch-id:)
    prerequisite_ref: str | None = None
    prerequisite_mails: list[bytes] = field(default_factory=list)


def lease(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.worker.lease_seconds)


class LeaseKeeper(threading.Thread):
    """Renews the run's lease while the worker lives (a 20-minute build included). If the lease
    was lost (another worker took the run after it expired), the run stops at the next boundary."""

    def __init__(self, settings: Settings, run_id: int) -> None:
        super().__init__(name=f"lease-{run_id}", daemon=True)
        self.settings, self.run_id = settings, run_id
        self.stop = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        interval = max(self.settings.worker.lease_seconds / 4, 0.5)
        while not self.stop.wait(interval):
            try:
                with session_scope(self.settings.database_url) as session:
                    run = session.get(Run, self.run_id)
                    if run is not None and run.state == "cancelled":
                        return  # the patch loop sees it at the next boundary and stops there
                    if run is None or run.state != "running" or run.worker != self.settings.worker_name:
                        self.lost.set()
                        return
                    run.lease_until = utcnow() + lease(self.settings)
            except Exception as exc:  # the database may be away for a moment: keep trying
                log.warning("event=lease-renew-failed run=%d error=%r", self.run_id, exc)


class HandBack(Exception):
    """Stop at a patch boundary and give the run back to the queue (shutdown, or the lease lost)."""


def hand_back(settings: Settings, run_id: int) -> None:
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        if run is None or run.state != "running" or run.worker != settings.worker_name:
            return  # someone else owns it now
        run.state, run.worker, run.lease_until = "queued", None, None
        project = settings.project(run.project)
        queue.enqueue_after_commit(session, queue.TEST_SERIES, run_id, queue=project.queue)


def claim(run_id: int, settings: Settings) -> RunPlan | None:
    """Take the run if it is queued, or running under an expired lease; load what it needs."""
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id, with_for_update=True)
        now = utcnow()
        if run is None or run.state not in ("queued", "running"):
            return None
        if run.state == "running" and run.worker != settings.worker_name and run.lease_until and run.lease_until > now:
            return None
        run.state = "running"
        run.worker = settings.worker_name
        run.started_at = run.started_at or now
        run.lease_until = now + lease(settings)
        series = session.get(Series, run.series_id)
        assert series is not None
        series.state = "running"
        patches = []
        for p in series.patches:
            raw = _raw(session, p.message_pk)
            patches.append(PatchInput(p.id, p.index, p.subject, raw or b""))
        done = {r.index for r in run.results if r.verdict not in ("pending", "running")}
        ref, mails = prerequisites(session, series)
        return RunPlan(run.id, series.id, settings.project(run.project), patches, [p.patch_id for p in series.patches],
                       dict(run.options or {}), series.base_commit, done, ref, mails)


def retry_later(settings: Settings, run_id: int, error: str) -> bool:
    """An infrastructure fault is ours: put the run back in the queue a few times before giving up."""
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        if run is None or run.attempts >= INFRA_RETRIES or run.state != "running":
            return False
        run.attempts += 1
        run.state, run.error, run.worker, run.lease_until = "queued", f"retrying: {error}"[:4000], None, None
        project = settings.project(run.project)
        delay = RETRY_DELAY * run.attempts
        session.flush()

        def _send(_session: Session) -> None:
            queue.enqueue(queue.TEST_SERIES, run_id, queue=project.queue, countdown=delay)

        event.listen(session, "after_commit", _send, once=True)
    log.warning("event=run-retry run=%d in=%.0fs", run_id, delay)
    return True


def prerequisites(session: Session, series: Series) -> tuple[str | None, list[bytes]]:
    """The mails of the series named by `Based-on:`, or of the patches named by
    `prerequisite-patch-id:`, in the order they must be applied before this series."""
    for msgid in series.based_on:
        key = msgid.rstrip("/").rsplit("/", 1)[-1] if "://" in msgid else msgid
        dep = session.scalar(select(Series).where(Series.project == series.project, Series.id != series.id,
                                                  Series.cover_msgid == key))
        if dep is None:
            patch = session.scalar(select(Patch).where(Patch.message_id == key))
            dep = patch.series if patch is not None and patch.series_id != series.id else None
        if dep is not None and dep.patches:
            return f"<{key}>", [_raw(session, p.message_pk) for p in dep.patches]
    if series.prerequisite_patch_ids:
        found = session.scalars(select(Patch).where(Patch.patch_id.in_(series.prerequisite_patch_ids),
                                                    Patch.series_id != series.id)
                                .order_by(Patch.series_id, Patch.index)).all()
        chosen: dict[str, Patch] = {}
        for p in found:
            chosen.setdefault(p.patch_id or "", p)
        if chosen:
            return "prerequisite patches", [_raw(session, p.message_pk) for p in chosen.values()]
    return None, []


def _raw(session: Session, message_pk: int) -> bytes:
    """The mail to `git am`: the author's copy when the list server changed it (From munging,
    subject prefix, footer), else the mail as stored."""
    return session.scalar(select(func.coalesce(Message.author_raw, Message.raw)).where(Message.id == message_pk)) or b""


def reuse_key(base: str, config_version: str, patch_ids: list[str | None], options: dict[str, Any]) -> str | None:
    """(upstream commit, chain of patch-ids up to this patch, project config version, run mode)."""
    if not patch_ids or any(p is None for p in patch_ids):
        return None
    mode = "rules-only" if options.get("rules_only") else "full"
    data = "|".join([base, config_version, mode, *[p or "" for p in patch_ids]])
    return hashlib.sha256(data.encode()).hexdigest()[:40]


def stored_state(settings: Settings, run_id: int, index: int, state: PatchState) -> PatchState:
    with session_scope(settings.database_url) as session:
        result = session.scalar(select(PatchResult).where(PatchResult.run_id == run_id, PatchResult.index == index))
        if result is None:
            return state
        failed = {t["name"]: t.get("since", index) for t in result.details.get("failed_tests", [])}
        ok = result.build in ("ok", "warn", "skip")
        errors = {str(k): int(s) for k, s in result.details.get("build_error_keys", [])}
        broken_by = min(errors.values(), default=index) if errors else index
        return PatchState(build_ok=ok, failed_tests=failed, build_broken_by=None if ok else broken_by,
                          build_errors={} if ok else errors)


def cancelled(settings: Settings, run_id: int) -> bool:
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        return run is None or run.state == "cancelled"


SERIES_STATE = {"ok": "passed", "warn": "warned", "fail": "failed", "blocked": "failed", "skip": "passed"}


def finish(settings: Settings, run_id: int, *, error: str = "", duration: float | None = None,
           refused: bool = False) -> None:
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        if run is None:
            return
        verdicts = [Status(r.verdict) for r in run.results if r.verdict not in ("pending", "running")]
        if run.state == "cancelled":
            pass
        elif refused:
            run.state, run.verdict, run.error = "done", "refused", error[:4000]
        elif error:
            run.state, run.verdict, run.error = "error", "error", error[:4000]
        else:
            run.state = "done"
            run.verdict = Status.worst(verdicts).value if verdicts else "error"
        run.finished_at = utcnow()
        run.lease_until = None
        series = session.get(Series, run.series_id)
        if series is not None and series.state not in ("superseded", "merged"):
            if run.state == "cancelled":
                series.state = "cancelled"
            elif run.state == "error":
                series.state = "error"
            elif refused:
                previous = [r for r in series.runs if r.id != run.id and r.state == "done" and r.verdict != "refused"]
                series.state = SERIES_STATE.get(previous[-1].verdict or "", "error") if previous else "complete"
            else:
                series.state = SERIES_STATE.get(run.verdict or "", "error")
        queue.enqueue_after_commit(session, queue.REPORT_RUN, run_id)
    log.info("event=run-finished run=%d error=%s duration=%s", run_id, error or "-", duration)
