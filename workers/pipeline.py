"""The main path, top to bottom: claim the run -> fetch upstream -> apply the series (falling back
to its declared base) -> for each patch: check out, build, test, rules (upstream's own verdict only
when the patch's build or tests fail, in a second build directory), save -> finish. Each patch's
result is committed before the next patch starts, so results stream to the dashboard and a run resumed elsewhere starts at the first patch with no stored result."""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot import queue
from bot.db.models import FindingRow, PatchResult, Run, utcnow
from bot.db.session import session_scope
from bot.errors import InfraError, UserError
from bot.health import CURRENT, SHUTTING_DOWN
from bot.logs import bind, bound
from bot.records import CompilerMessage, Status
from bot.settings import Settings
from workers import baseline, ccache, facts, steps, tree
from workers.facts import UpstreamBroken
from workers.judge import PatchState, judge_build, judge_tests
from workers.merged import detect_merged
from workers.rules import rules_for_project
from workers.rules.context import file_diffs, parse_diff
from workers.rules.local import SeriesChecker
from workers.runs import (
    HandBack,
    LeaseKeeper,
    PatchInput,
    RunPlan,
    cancelled,
    claim,
    finish,
    hand_back,
    lease,
    retry_later,
    reuse_key,
    stored_state,
)

log = logging.getLogger("seriesbot.pipeline")


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
        except UpstreamBroken as exc:  # not the series' fault, and retrying will not help: the admins look
            log.error("event=upstream-broken run=%d error=%s", run_id, exc)
            finish(settings, run_id, error=str(exc))
            return "error"
        except UserError as exc:  # a request that cannot be honoured: said to whoever asked, not retried
            log.warning("event=run-refused error=%s", exc)
            finish(settings, run_id, error=str(exc), refused=True)
            return "refused"
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


def new_warnings(warnings: list[CompilerMessage], diff: str, limit: int = 5) -> list[str]:
    """Compiler warnings on lines this patch adds: the patch's own, whatever upstream's are (an
    incremental build shows warnings only for what it recompiled, so nothing else is comparable)."""
    added = {(f.path, n) for f in file_diffs(parse_diff(diff)) for n, _ in f.added}
    return [str(w) for w in warnings if (w.path, w.line) in added][:limit]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "worker"


class SeriesRun:
    def __init__(self, plan: RunPlan, settings: Settings) -> None:
        self.plan = plan
        self.settings = settings
        self.project = plan.project
        self.ptree = tree.ProjectTree(settings.data_dir / "work" / _safe(settings.worker_name) / plan.project.name,
                                      plan.project.upstream, plan.project.branch,
                                      tuple(sorted(plan.project.submodules.items())))
        self.log_dir = settings.logs_dir / f"run-{plan.run_id}"
        # what a build or test step may touch: its tree and build directory; and read what git in
        # that clone needs (libvirt's syntax-check runs git there): the mirror its objects come from
        # and the submodule mirrors; and the files of the bot's configuration its commands name (a
        # meson native file); and write the worker's compiler cache
        config = steps.config_files(plan.project.build, settings.config_path.parent)
        cache_dir = settings.data_dir / (plan.project.build.ccache_dir or f"ccache/{_safe(settings.worker_name)}")
        writable, env = ccache.workspace_parts(plan.project.build, cache_dir, self.ptree.root)
        self.workspace = steps.Workspace(self.ptree.src, self.ptree.build, writable=writable, env=env,
                                         readonly=(self.ptree.mirror, self.ptree.submodules, *config))
        self.fetch_notes: list[str] = []
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
        self.fetch_notes = tree.ensure_mirrors(self.ptree)
        detect_merged(self.settings, self.project, self.ptree)
        kind, ref, base, upstream, applied, conflict = self.apply_series()
        branch = self.publish(applied)
        with session_scope(self.settings.database_url) as session:
            run = session.get(Run, self.plan.run_id)
            assert run is not None
            run.base_kind, run.base_ref, run.base_sha, run.upstream_sha = kind, ref, base, upstream
            run.rebase_conflict, run.branch = conflict, branch
        tree.prepare_worktree(self.ptree, self.ptree.src, None)  # clean, but left where the last build was
        # patch 1 builds from wherever the build directory is; upstream is built only if a patch fails
        upstream_verdict = baseline.LazyBaseline(self.settings, self.project, self.ptree, self.workspace, base,
                                                 self.log_dir)
        state = PatchState(build_ok=True)
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
                state = self.run_patch(pin, app, parent, checker, upstream_verdict, state, key)
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
                raise UserError(f"base {override!r} does not resolve in {self.project.upstream}")
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
                  base: baseline.LazyBaseline, state: PatchState, key: str | None = None) -> PatchState:
        assert app.commit is not None
        name = f"patch-{pin.index:03d}"
        details: dict[str, Any] = {}
        durations: dict[str, float] = {}
        logs: dict[str, str] = {}
        is_last = pin.index == self.plan.patches[-1].index
        rules_only = bool(self.plan.options.get("rules_only"))
        started = time.monotonic()
        submodule_notes = tree.checkout(self.ptree, app.commit)
        durations["checkout"] = round(time.monotonic() - started, 3)
        if app.status == "already-applied":
            details["apply_note"] = "already applied upstream: nothing to apply"
        build_status, test_status = "skip", "skip"
        new_state = state
        warnings: list[CompilerMessage] = []
        waited = base.spent
        if not rules_only:
            built = steps.run_build(self.project.build, self.workspace, self.log_dir, name)
            warnings = [m for m in built.messages if m.kind == "warning"]
            if built.setup_duration:
                durations["setup"] = round(built.setup_duration, 3)
            durations["build"] = round(built.duration, 3)
            if built.cache is not None:
                details["ccache"] = built.cache.as_dict()
            if built.setup_log and built.setup_log != built.log:  # the configure this build needed first
                logs["setup"] = self.relative(built.setup_log)
            logs["build"] = self.relative(built.log)
            build_status, test_status, new_state = judge_build(built, base, state, pin.index, details)
            if details.get("upstream_broken"):
                raise facts.upstream_broken(self.settings, self.project, base.sha, details.get("build_errors", []),
                                            self.settings.logs_dir / logs["build"])
            if build_status != "ok" and (submodule_notes or self.fetch_notes):
                details["submodule_notes"] = [*self.fetch_notes, *submodule_notes]
            ran = [built]
            if build_status == "ok" and (self.project.build.test_mode == "every" or is_last):
                tested = steps.run_tests(self.project.build, self.workspace, self.log_dir, name)
                durations["test"] = round(tested.duration, 3)
                logs["test"] = self.relative(tested.log)
                details["tests"] = facts.test_counts(tested.tests)
                ran.append(tested)
                test_status = judge_tests(tested, base, state, new_state, pin.index, details, self.rerun_alone(name))
            elif build_status == "ok":
                test_status = "skip"
                details["test_note"] = "build-only for this patch (the project tests only the last patch)"
            details["commands"] = facts.commands(self.project, self.workspace, *ran)
            if build_status in ("ok", "warn", "fail", "blocked"):
                missing = facts.not_built_here(self.ptree, self.workspace, parent, app.commit)
                if missing:
                    details["not_built"] = missing
        else:
            details["test_note"] = "rules-only run: not built or tested"
        if base.spent > waited:  # this patch failed, and upstream's own verdict was taken to judge it
            durations["upstream"] = round(base.spent - waited, 3)
        started = time.monotonic()
        ruled = checker.check(parent, app.commit, pin.index)
        durations["rules"] = round(time.monotonic() - started, 3)
        if build_status == "ok" and warnings:
            new = new_warnings(warnings, checker.infos[-1].diff)
            if new:
                build_status, details["new_warnings"] = "warn", new
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
            again = steps.run_tests(self.project.build, self.workspace, self.log_dir,
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


