"""The main path, top to bottom: claim the run -> fetch upstream -> apply the series (falling back
to its declared base) -> upstream's own verdict -> for each patch: check out, build, test, rules,
save -> finish. Each patch's result is committed before the next patch starts, so results stream to
the dashboard and a run resumed elsewhere starts at the first patch with no stored result."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot import queue
from bot.db.models import FindingRow, Message, PatchResult, Run, Series, utcnow
from bot.db.session import session_scope
from bot.errors import InfraError
from bot.records import Status
from bot.settings import ProjectSettings, Settings
from workers import baseline, steps, tree
from workers.rules import rules_for_project
from workers.rules.context import PatchInfo, RuleContext
from workers.rules.engine import run_rules

log = logging.getLogger("seriesbot.pipeline")
LEASE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class PatchInput:
    pk: int
    index: int
    subject: str
    author_name: str
    author_email: str
    raw: bytes


@dataclass
class RunPlan:
    run_id: int
    series_id: int
    project: ProjectSettings
    patches: list[PatchInput]
    options: dict[str, Any]
    base_commit: str | None
    done_indexes: set[int] = field(default_factory=set)


@dataclass
class PatchState:
    """What the previous patch left behind, to tell "broken by" from "fixed by" from "still"."""

    build_ok: bool
    failed_tests: dict[str, int] = field(default_factory=dict)  # test -> index of the patch that broke it
    build_broken_by: int | None = None


def run_series(run_id: int, settings: Settings) -> str:
    plan = _claim(run_id, settings)
    if plan is None:
        return "skipped"
    ptree = tree.ProjectTree(settings.data_dir / "work" / _safe(settings.worker_name) / plan.project.name,
                             plan.project.upstream, plan.project.branch)
    ptree.root.mkdir(parents=True, exist_ok=True)
    with open(ptree.root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run per build directory on this host
        try:
            _execute(plan, ptree, settings)
        except InfraError as exc:
            log.error("event=run-infra-error run=%d error=%s", run_id, exc)
            _finish(settings, run_id, error=str(exc))
            return "error"
        except Exception as exc:
            log.exception("event=run-crashed run=%d", run_id)
            _finish(settings, run_id, error=f"internal error: {exc!r}")
            return "error"
    return "done"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "worker"


def _claim(run_id: int, settings: Settings) -> RunPlan | None:
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
        run.lease_until = now + LEASE
        series = session.get(Series, run.series_id)
        assert series is not None
        series.state = "running"
        patches = []
        for p in series.patches:
            raw = session.scalar(select(Message.raw).where(Message.id == p.message_pk))
            patches.append(PatchInput(p.id, p.index, p.subject, p.author_name, p.author_email, raw or b""))
        done = {r.index for r in run.results if r.verdict not in ("pending", "running")}
        return RunPlan(run.id, series.id, settings.project(run.project), patches, dict(run.options or {}),
                       series.base_commit, done)


def _choose_base(plan: RunPlan, ptree: tree.ProjectTree) -> tuple[str, str, str, str]:
    """(kind, ref, sha, upstream tip sha) of the base to apply on."""
    upstream = tree.tip(ptree)
    override = plan.options.get("base")
    if override:
        sha = tree.resolve(ptree, override)
        if sha is None:
            raise InfraError(f"base {override!r} does not resolve in {plan.project.upstream}")
        return "override", override, sha, upstream
    return "tip", plan.project.branch, upstream, upstream


def _execute(plan: RunPlan, ptree: tree.ProjectTree, settings: Settings) -> None:
    project = plan.project
    log_dir = settings.logs_dir / f"run-{plan.run_id}"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tree.ensure_mirror(ptree)
    kind, ref, base, upstream = _choose_base(plan, ptree)
    mails = [(p.index, p.raw) for p in plan.patches]
    applied = tree.apply_patches(ptree, base, mails, log_dir / "mails")
    conflict: dict[str, Any] | None = None
    first_bad = next((a for a in applied if a.status == "conflict"), None)
    if first_bad and kind == "tip" and plan.base_commit:
        declared = tree.resolve(ptree, plan.base_commit)
        if declared and declared != base:
            on_declared = tree.apply_patches(ptree, declared, mails, log_dir / "mails")
            if not any(a.status == "conflict" for a in on_declared):
                conflict = {"index": first_bad.index, "files": first_bad.files, "upstream": upstream}
                kind, ref, base, applied = "base-commit", plan.base_commit, declared, on_declared
    branch = None
    last_ok = [a.commit for a in applied if a.commit and a.status in ("ok", "already-applied")]
    if last_ok and not any(a.status == "conflict" for a in applied):
        branch = f"series/{plan.series_id}/run-{plan.run_id}"
        tree.publish(ptree, settings.data_dir / "published" / f"{project.name}.git", branch, last_ok[-1])
    with session_scope(settings.database_url) as session:
        run = session.get(Run, plan.run_id)
        assert run is not None
        run.base_kind, run.base_ref, run.base_sha, run.upstream_sha = kind, ref, base, upstream
        run.rebase_conflict, run.branch = conflict, branch
    base_verdict = baseline.ensure(settings, project, ptree, base, log_dir)
    state = PatchState(build_ok=base_verdict.build_ok)
    rules = rules_for_project(project.rules.profiles, project.rules.disabled, project.rules.severity)
    infos: list[PatchInfo] = []
    parent = base
    commits = {a.index: a.commit for a in applied if a.commit}
    for pin, app in zip(plan.patches, applied, strict=True):
        if _cancelled(settings, plan.run_id):
            _save_skipped(settings, plan, pin, app, "the run was cancelled")
            continue
        if app.status not in ("ok", "already-applied") or app.commit is None:
            _save_apply_failure(settings, plan, pin, app, ref)
            continue
        info = PatchInfo(pin.index, pin.subject, _commit_message(ptree, app.commit), pin.author_name,
                         pin.author_email, _commit_diff(ptree, parent, app.commit))
        infos.append(info)
        if pin.index in plan.done_indexes:
            state = _state_from_stored(settings, plan.run_id, pin.index, state)
            parent = app.commit
            continue
        result = _run_patch(plan, ptree, settings, pin, app, parent, info, infos, rules, base_verdict, state, log_dir,
                            commits)
        state = result
        parent = app.commit
    _finish(settings, plan.run_id, duration=time.monotonic() - started)


def _run_patch(plan: RunPlan, ptree: tree.ProjectTree, settings: Settings, pin: PatchInput, app: tree.PatchApplied,
               parent: str, info: PatchInfo, infos: list[PatchInfo], rules: list, base_verdict: baseline.BaselineVerdict,
               state: PatchState, log_dir: Path, commits: dict[int, str]) -> PatchState:
    project = plan.project
    name = f"patch-{pin.index:03d}"
    details: dict[str, Any] = {}
    durations: dict[str, float] = {}
    logs: dict[str, str] = {}
    step_started = time.monotonic()
    tree.checkout(ptree, app.commit or parent)
    durations["checkout"] = round(time.monotonic() - step_started, 3)
    if app.status == "already-applied":
        details["apply_note"] = "already applied upstream: nothing to apply"
    built = steps.run_build(project.build, ptree.src, ptree.build, log_dir, name)
    durations["build"] = round(built.duration, 3)
    logs["build"] = _rel(settings, built.log)
    build_status, test_status = _judge_build(built, base_verdict, state, pin.index, details)
    new_state = PatchState(build_ok=built.status == "ok", failed_tests=dict(state.failed_tests),
                           build_broken_by=None if built.status == "ok" else (state.build_broken_by or pin.index))
    is_last = pin.index == plan.patches[-1].index
    if built.status == "ok" and (project.build.test_mode == "every" or is_last) and not plan.options.get("rules_only"):
        tested = steps.run_tests(project.build, ptree.src, ptree.build, log_dir, name)
        durations["test"] = round(tested.duration, 3)
        logs["test"] = _rel(settings, tested.log)
        test_status = _judge_tests(project, ptree, log_dir, name, tested, base_verdict, state, new_state,
                                   pin.index, details)
    elif built.status == "ok":
        test_status = "skip"
        details["test_note"] = "build-only for this patch (project tests only the last patch)" \
            if not plan.options.get("rules_only") else "rules-only run"
    rules_started = time.monotonic()
    ctx = RuleContext(patch=info, series=list(infos), read=_reader(ptree, app.commit or parent),
                      read_before=_reader(ptree, parent), is_last=is_last,
                      read_at=lambda i, path: _reader(ptree, commits[i])(path) if i in commits else None)
    ruled = run_rules(ctx, rules)
    durations["rules"] = round(time.monotonic() - rules_started, 3)
    apply_status = "ok"
    if app.status == "already-applied":
        apply_status = "warn"
    verdict = Status.worst([Status(apply_status), Status(build_status), Status(test_status), Status(ruled.status)])
    with session_scope(settings.database_url) as session:
        result = session.scalar(select(PatchResult).where(PatchResult.run_id == plan.run_id,
                                                          PatchResult.patch_id == pin.pk))
        if result is None:
            result = PatchResult(run_id=plan.run_id, patch_id=pin.pk, index=pin.index)
            session.add(result)
        result.commit = app.commit
        result.apply, result.build, result.test, result.rules = apply_status, build_status, test_status, ruled.status
        result.verdict = verdict.value
        result.details, result.durations, result.logs = details, durations, logs
        result.findings = [FindingRow(rule_id=f.rule_id, severity=f.severity.value, path=f.path, line=f.line,
                                      message=f.message, guide=f.guide) for f in ruled.findings]
        run = session.get(Run, plan.run_id)
        if run is not None:
            run.lease_until = utcnow() + LEASE
        session.flush()
        queue.enqueue_after_commit(session, queue.REPORT_PATCH, result.id)
    log.info("event=patch-done run=%d patch=%d verdict=%s build=%s test=%s rules=%s durations=%s", plan.run_id,
             pin.index, verdict, build_status, test_status, ruled.status, durations)
    return new_state


def _judge_build(built: steps.StepOutcome, base: baseline.BaselineVerdict, state: PatchState, index: int,
                 details: dict[str, Any]) -> tuple[str, str]:
    """(build status, test status if the build did not pass)."""
    if built.status == "error":
        details["build_note"] = f"infrastructure: {built.note}"
        return "error", "skip"
    errors = [str(m) for m in built.messages if m.kind == "error"][:5]
    if built.status == "ok":
        if not state.build_ok and state.build_broken_by:
            details["build_note"] = f"build fixed by this patch (broken since patch {state.build_broken_by})"
        return "ok", "pending"
    details["build_errors"] = errors
    if built.note:
        details["build_note"] = built.note
    if not base.build_ok:
        details["build_note"] = "upstream fails to build as well: not blamed on this patch"
        return "warn", "skip"
    if not state.build_ok and state.build_broken_by:
        details["build_note"] = f"still broken since patch {state.build_broken_by}"
    details["test_note"] = "not run: the build failed"
    return "fail", "skip"


def _judge_tests(project: ProjectSettings, ptree: tree.ProjectTree, log_dir: Path, name: str,
                 tested: steps.StepOutcome, base: baseline.BaselineVerdict, state: PatchState,
                 new_state: PatchState, index: int, details: dict[str, Any]) -> str:
    if tested.status == "error":
        details["test_note"] = f"infrastructure: {tested.note}"
        return "error"
    failing = {t.name: t for t in tested.failed_tests}
    flaky = []
    for test_name in [n for n in failing if n not in base.failed_tests and n not in state.failed_tests]:
        again = steps.run_tests(project.build, ptree.src, ptree.build, log_dir, f"{name}-rerun", only=[test_name])
        if again.status == "ok" and not again.failed_tests:
            flaky.append(test_name)
    for test_name in flaky:
        failing.pop(test_name)
    if flaky:
        details["flaky_tests"] = sorted(flaky)
    upstream_too = sorted(n for n in failing if n in base.failed_tests)
    if upstream_too:
        details["upstream_failures"] = upstream_too
    blamed = {n: t for n, t in failing.items() if n not in base.failed_tests}
    new_state.failed_tests = {n: state.failed_tests.get(n, index) for n in blamed}
    fixed = sorted(n for n in state.failed_tests if n not in failing)
    if fixed:
        details["fixed_tests"] = fixed
    if tested.status == "fail" and not failing and not flaky:
        details["test_note"] = tested.note or "the test command failed"
        return "fail"
    if not blamed:
        return "ok"
    details["failed_tests"] = [
        {"name": n, "status": t.status, "since": new_state.failed_tests[n], "log_tail": _short_tail(t.log_tail)}
        for n, t in sorted(blamed.items())
    ]
    return "fail"


def _short_tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _state_from_stored(settings: Settings, run_id: int, index: int, state: PatchState) -> PatchState:
    with session_scope(settings.database_url) as session:
        result = session.scalar(select(PatchResult).where(PatchResult.run_id == run_id, PatchResult.index == index))
        if result is None:
            return state
        failed = {t["name"]: t.get("since", index) for t in result.details.get("failed_tests", [])}
        ok = result.build in ("ok", "warn")
        return PatchState(build_ok=ok, failed_tests=failed, build_broken_by=None if ok else index)


def _save(settings: Settings, plan: RunPlan, pin: PatchInput, **fields: Any) -> None:
    with session_scope(settings.database_url) as session:
        result = session.scalar(select(PatchResult).where(PatchResult.run_id == plan.run_id,
                                                          PatchResult.patch_id == pin.pk))
        if result is None:
            result = PatchResult(run_id=plan.run_id, patch_id=pin.pk, index=pin.index)
            session.add(result)
        for key, value in fields.items():
            setattr(result, key, value)
        session.flush()
        queue.enqueue_after_commit(session, queue.REPORT_PATCH, result.id)


def _save_apply_failure(settings: Settings, plan: RunPlan, pin: PatchInput, app: tree.PatchApplied, ref: str) -> None:
    if app.status == "conflict":
        details = {"conflict_files": app.files, "apply_note": f"does not apply on {ref}", "git_output": app.message[-1500:]}
        _save(settings, plan, pin, apply="fail", build="skip", test="skip", rules="skip", verdict="fail", details=details)
    else:
        _save(settings, plan, pin, apply="skip", build="skip", test="skip", rules="skip", verdict="skip",
              details={"apply_note": f"not tested: {app.message}"})


def _save_skipped(settings: Settings, plan: RunPlan, pin: PatchInput, app: tree.PatchApplied, why: str) -> None:
    _save(settings, plan, pin, commit=app.commit, apply="skip", build="skip", test="skip", rules="skip",
          verdict="skip", details={"apply_note": f"not tested: {why}"})


def _cancelled(settings: Settings, run_id: int) -> bool:
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        return run is None or run.state == "cancelled"


def _finish(settings: Settings, run_id: int, *, error: str = "", duration: float | None = None) -> None:
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
            series.state = {"ok": "passed", "warn": "warned", "fail": "failed", "skip": "passed"}.get(
                run.verdict or "", "error" if run.state == "error" else "cancelled")
        queue.enqueue_after_commit(session, queue.REPORT_RUN, run_id)
    log.info("event=run-finished run=%d error=%s duration=%s", run_id, error or "-", duration)


def _rel(settings: Settings, path: str) -> str:
    try:
        return str(Path(path).relative_to(settings.logs_dir))
    except ValueError:
        return path


def _commit_message(ptree: tree.ProjectTree, sha: str) -> str:
    return tree.git(ptree.src, "log", "-1", "--format=%B", sha).stdout


def _commit_diff(ptree: tree.ProjectTree, parent: str, sha: str) -> str:
    return tree.git(ptree.src, "diff", "--no-color", "--no-ext-diff", "-M", parent, sha, timeout=120).stdout


def _reader(ptree: tree.ProjectTree, sha: str):  # type: ignore[no-untyped-def]
    cache: dict[str, str | None] = {}

    def read(path: str) -> str | None:
        if path not in cache:
            shown = tree.git(ptree.src, "show", f"{sha}:{path}")
            cache[path] = shown.stdout if shown.ok else None
        return cache[path]

    return read
