"""The main path, top to bottom: claim the run -> fetch upstream -> apply the series (falling back
to its declared base) -> upstream's own verdict -> for each patch: check out, build, test, rules,
save -> finish. Each patch's result is committed before the next patch starts, so results stream to
the dashboard and a run resumed elsewhere starts at the first patch with no stored result."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bot import queue
from bot.db.models import FindingRow, Message, Patch, PatchResult, Run, Series, utcnow
from bot.db.session import session_scope
from bot.errors import InfraError
from bot.health import CURRENT, SHUTTING_DOWN
from bot.logs import bind, bound
from bot.records import Status
from bot.settings import ProjectSettings, Settings
from workers import baseline, steps, tree
from workers.judge import PatchState, judge_build, judge_tests
from workers.merged import detect_merged
from workers.rules import rules_for_project
from workers.rules.local import SeriesChecker

log = logging.getLogger("seriesbot.pipeline")
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


def run_series(run_id: int, settings: Settings) -> str:
    with bound(run=run_id):
        return _run_series(run_id, settings)


def _run_series(run_id: int, settings: Settings) -> str:
    plan = claim(run_id, settings)
    if plan is None:
        return "skipped"
    bind(series=plan.series_id)
    runner = SeriesRun(plan, settings)
    runner.ptree.root.mkdir(parents=True, exist_ok=True)
    keeper = LeaseKeeper(settings, run_id)
    keeper.start()
    runner.lease_lost = keeper.lost
    CURRENT["run_id"] = run_id
    with open(runner.ptree.root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run at a time per build directory on this host
        try:
            return runner.execute()
        except HandBack as why:
            log.info("event=run-handed-back reason=%s", why)
            hand_back(settings, run_id)
            return "handed-back"
        except InfraError as exc:
            log.error("event=run-infra-error run=%d error=%s", run_id, exc)
            if retry_later(settings, run_id, str(exc)):
                return "retry"
            finish(settings, run_id, error=str(exc))
            return "error"
        except Exception as exc:
            log.exception("event=run-crashed run=%d", run_id)
            finish(settings, run_id, error=f"internal error: {exc!r}")
            return "error"
        finally:
            keeper.stop.set()
            CURRENT["run_id"] = None


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
            raw = session.scalar(select(Message.raw).where(Message.id == p.message_pk))
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
    return session.scalar(select(Message.raw).where(Message.id == message_pk)) or b""


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "worker"


class SeriesRun:
    def __init__(self, plan: RunPlan, settings: Settings) -> None:
        self.plan = plan
        self.settings = settings
        self.project = plan.project
        self.ptree = tree.ProjectTree(settings.data_dir / "work" / _safe(settings.worker_name) / plan.project.name,
                                      plan.project.upstream, plan.project.branch)
        self.log_dir = settings.logs_dir / f"run-{plan.run_id}"
        self.rules = rules_for_project(self.project.rules.profiles, self.project.rules.disabled,
                                       self.project.rules.severity)

    lease_lost: threading.Event | None = None

    def boundary(self) -> None:
        """Between two patches: stop here if the worker is shutting down or lost the run."""
        if SHUTTING_DOWN.is_set():
            raise HandBack("worker shutting down")
        if self.lease_lost is not None and self.lease_lost.is_set():
            raise HandBack("lease lost")

    def execute(self) -> str:
        started = time.monotonic()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        tree.ensure_mirror(self.ptree)
        detect_merged(self.settings, self.project, self.ptree)
        kind, ref, base, upstream, applied, conflict = self.apply_series()
        branch = self.publish(applied)
        with session_scope(self.settings.database_url) as session:
            run = session.get(Run, self.plan.run_id)
            assert run is not None
            run.base_kind, run.base_ref, run.base_sha, run.upstream_sha = kind, ref, base, upstream
            run.rebase_conflict, run.branch = conflict, branch
        tree.prepare_worktree(self.ptree, self.ptree.src, None)  # clean, but left where the last build was
        base_verdict = baseline.ensure(self.settings, self.project, self.ptree, base, self.log_dir)
        state = PatchState(build_ok=base_verdict.build_ok)
        checker = SeriesChecker(self.ptree.src, self.rules, total=len(self.plan.patches))
        parent = base
        for pin, app in zip(self.plan.patches, applied, strict=True):
            bind(patch=pin.index)
            if pin.index not in self.plan.done_indexes:
                self.boundary()
            if cancelled(self.settings, self.plan.run_id):
                self.save(pin, commit=app.commit, apply="skip", build="skip", test="skip", rules="skip",
                          verdict="skip", details={"apply_note": "not tested: the run was cancelled"})
                continue
            if app.status not in ("ok", "already-applied") or app.commit is None:
                self.save_apply_failure(pin, app, ref)
                continue
            key = reuse_key(base, self.project.config_version, self.plan.patch_ids[: pin.index], self.plan.options)
            if pin.index in self.plan.done_indexes:  # resumed run: this patch has its result already
                checker.remember(parent, app.commit, pin.index)
                state = stored_state(self.settings, self.plan.run_id, pin.index, state)
            elif key and not self.plan.options.get("force") and self.reuse(pin, app, key):
                checker.remember(parent, app.commit, pin.index)
                state = stored_state(self.settings, self.plan.run_id, pin.index, state)
            else:
                state = self.run_patch(pin, app, parent, checker, base_verdict, state, key)
            parent = app.commit
        finish(self.settings, self.plan.run_id, duration=time.monotonic() - started)
        return "done"

    def apply_series(self) -> tuple[str, str, str, str, list[tree.PatchApplied], dict[str, Any] | None]:
        """Apply on the tip (or the requested base); when that conflicts, try the declared
        base-commit to tell "needs a rebase" from "does not apply"."""
        upstream = tree.tip(self.ptree)
        kind, ref, base = "tip", self.project.branch, upstream
        override = self.plan.options.get("base")
        if override:
            sha = tree.resolve(self.ptree, override)
            if sha is None:
                raise InfraError(f"base {override!r} does not resolve in {self.project.upstream}")
            kind, ref, base = "override", override, sha
        if self.plan.prerequisite_mails and not override:
            on_top = self.apply_prerequisites(base)
            if on_top is not None:
                kind, ref, base = "based-on", self.plan.prerequisite_ref or "prerequisites", on_top
        mails = [(p.index, p.raw) for p in self.plan.patches]
        applied = tree.apply_patches(self.ptree, base, mails, self.log_dir / "mails")
        first_bad = next((a for a in applied if a.status == "conflict"), None)
        if first_bad and kind == "tip" and self.plan.base_commit:
            declared = tree.resolve(self.ptree, self.plan.base_commit)
            if declared and declared != base:
                on_declared = tree.apply_patches(self.ptree, declared, mails, self.log_dir / "mails")
                if not any(a.status == "conflict" for a in on_declared):
                    conflict = {"index": first_bad.index, "files": first_bad.files, "upstream": upstream}
                    return "base-commit", self.plan.base_commit, declared, upstream, on_declared, conflict
        return kind, ref, base, upstream, applied, None

    def apply_prerequisites(self, base: str) -> str | None:
        """Apply what the series is based on; the commit on top, or None when it does not apply."""
        prefix = [(1000 + i, raw) for i, raw in enumerate(self.plan.prerequisite_mails, start=1)]
        done = tree.apply_patches(self.ptree, base, prefix, self.log_dir / "prerequisites")
        if any(a.status == "conflict" for a in done):
            log.warning("event=prerequisites-conflict run=%d", self.plan.run_id)
            return None
        commits = [a.commit for a in done if a.commit]
        return commits[-1] if commits else None

    def publish(self, applied: list[tree.PatchApplied]) -> str | None:
        commits = [a.commit for a in applied if a.commit and a.status in ("ok", "already-applied")]
        if not commits or any(a.status == "conflict" for a in applied):
            return None
        branch = f"series/{self.plan.series_id}/run-{self.plan.run_id}"
        repo = self.settings.data_dir / "published" / f"{self.project.name}.git"
        tree.publish(self.ptree, repo, branch, commits[-1])
        return branch

    def reuse(self, pin: PatchInput, app: tree.PatchApplied, key: str) -> bool:
        """Copy the result of the same patch chain on the same base and config from an earlier run
        (an unchanged patch of a new version): marked as reused, not rebuilt."""
        with session_scope(self.settings.database_url) as session:
            old = session.scalar(select(PatchResult).where(
                PatchResult.reuse_key == key, PatchResult.run_id != self.plan.run_id,
                PatchResult.verdict.in_(("ok", "warn", "fail")), PatchResult.reused_from.is_(None),
                PatchResult.build != "error", PatchResult.test != "error").order_by(PatchResult.id.desc()).limit(1))
            if old is None:
                return False
            copied = dict(old.details or {})
            copied["reused_note"] = f"unchanged patch on the same base: result of run {old.run_id} reused"
            fields = dict(commit=app.commit, apply=old.apply, build=old.build, test=old.test, rules=old.rules,
                          verdict=old.verdict, details=copied, durations={}, logs=dict(old.logs or {}),
                          reuse_key=key, reused_from=old.id,
                          findings=[FindingRow(rule_id=f.rule_id, severity=f.severity, path=f.path, line=f.line,
                                               message=f.message, guide=f.guide, patch_index=f.patch_index)
                                    for f in old.findings])
        self.save(pin, **fields)
        log.info("event=patch-reused run=%d patch=%d from_result=%d", self.plan.run_id, pin.index, fields["reused_from"])
        return True

    def run_patch(self, pin: PatchInput, app: tree.PatchApplied, parent: str, checker: SeriesChecker,
                  base: baseline.BaselineVerdict, state: PatchState, key: str | None = None) -> PatchState:
        assert app.commit is not None
        name = f"patch-{pin.index:03d}"
        details: dict[str, Any] = {}
        durations: dict[str, float] = {}
        logs: dict[str, str] = {}
        is_last = pin.index == self.plan.patches[-1].index
        rules_only = bool(self.plan.options.get("rules_only"))
        started = time.monotonic()
        tree.checkout(self.ptree, app.commit)
        durations["checkout"] = round(time.monotonic() - started, 3)
        if app.status == "already-applied":
            details["apply_note"] = "already applied upstream: nothing to apply"
        build_status, test_status = "skip", "skip"
        new_state = state
        if not rules_only:
            built = steps.run_build(self.project.build, self.ptree.src, self.ptree.build, self.log_dir, name)
            durations["build"] = round(built.duration, 3)
            logs["build"] = self.relative(built.log)
            build_status, test_status, new_state = judge_build(built, base, state, pin.index, details)
            if build_status == "ok" and (self.project.build.test_mode == "every" or is_last):
                tested = steps.run_tests(self.project.build, self.ptree.src, self.ptree.build, self.log_dir, name)
                durations["test"] = round(tested.duration, 3)
                logs["test"] = self.relative(tested.log)
                test_status = judge_tests(tested, base, state, new_state, pin.index, details, self.rerun_alone(name))
            elif build_status == "ok":
                test_status = "skip"
                details["test_note"] = "build-only for this patch (the project tests only the last patch)"
        else:
            details["test_note"] = "rules-only run: not built or tested"
        started = time.monotonic()
        ruled = checker.check(parent, app.commit, pin.index)
        durations["rules"] = round(time.monotonic() - started, 3)
        apply_status = "warn" if app.status == "already-applied" else "ok"
        verdict = Status.worst([Status(apply_status), Status(build_status), Status(test_status), Status(ruled.status)])
        self.save(pin, commit=app.commit, apply=apply_status, build=build_status, test=test_status,
                  rules=ruled.status, verdict=verdict.value, details=details, durations=durations, logs=logs,
                  reuse_key=key,
                  findings=[FindingRow(rule_id=f.rule_id, severity=f.severity.value, path=f.path, line=f.line,
                                       message=f.message, guide=f.guide, patch_index=f.patch_index)
                            for f in ruled.findings])
        log.info("event=patch-done run=%d patch=%d verdict=%s build=%s test=%s rules=%s durations=%s",
                 self.plan.run_id, pin.index, verdict, build_status, test_status, ruled.status, durations)
        return new_state

    def rerun_alone(self, name: str):  # type: ignore[no-untyped-def]
        """A newly failing test is run again alone: passing then means flaky, not broken."""

        def rerun(test_name: str) -> bool:
            again = steps.run_tests(self.project.build, self.ptree.src, self.ptree.build, self.log_dir,
                                    f"{name}-rerun", only=[test_name])
            return again.status == "ok" and not again.failed_tests

        return rerun

    def relative(self, path: str) -> str:
        try:
            return str(Path(path).relative_to(self.settings.logs_dir))
        except ValueError:
            return path

    def save(self, pin: PatchInput, **fields: Any) -> None:
        """Store one patch's result (one row per run and patch) and queue its reply."""
        with session_scope(self.settings.database_url) as session:
            result = session.scalar(select(PatchResult).where(PatchResult.run_id == self.plan.run_id,
                                                              PatchResult.patch_id == pin.pk))
            if result is None:
                result = PatchResult(run_id=self.plan.run_id, patch_id=pin.pk, index=pin.index)
                session.add(result)
            for key, value in fields.items():
                setattr(result, key, value)
            run = session.get(Run, self.plan.run_id)
            if run is not None:
                run.lease_until = utcnow() + lease(self.settings)
            session.flush()
            queue.enqueue_after_commit(session, queue.REPORT_PATCH, result.id)

    def save_apply_failure(self, pin: PatchInput, app: tree.PatchApplied, ref: str) -> None:
        if app.status == "conflict":
            details = {"conflict_files": app.files, "apply_note": f"does not apply on {ref}",
                       "git_output": app.message[-1500:]}
            self.save(pin, apply="fail", build="skip", test="skip", rules="skip", verdict="fail", details=details)
        else:
            self.save(pin, apply="skip", build="skip", test="skip", rules="skip", verdict="skip",
                      details={"apply_note": f"not tested: {app.message}"})


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
        return PatchState(build_ok=ok, failed_tests=failed, build_broken_by=None if ok else index)


def cancelled(settings: Settings, run_id: int) -> bool:
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        return run is None or run.state == "cancelled"


SERIES_STATE = {"ok": "passed", "warn": "warned", "fail": "failed", "skip": "passed"}


def finish(settings: Settings, run_id: int, *, error: str = "", duration: float | None = None) -> None:
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        if run is None:
            return
        verdicts = [Status(r.verdict) for r in run.results if r.verdict not in ("pending", "running")]
        if run.state == "cancelled":
            pass
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
            else:
                series.state = SERIES_STATE.get(run.verdict or "", "error")
        queue.enqueue_after_commit(session, queue.REPORT_RUN, run_id)
    log.info("event=run-finished run=%d error=%s duration=%s", run_id, error or "-", duration)
