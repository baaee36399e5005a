"""Upstream's own verdict at a commit, computed once per (project, sha, config version) and shared
by every series applied there, so that a patch is blamed only for what it changed. It is taken
lazily: only when a patch's build or tests fail (a passing patch needs no comparison, and is
reported without waiting for it), and in a second tree and build directory of its own, so the
series' warm build directory is not thrown back to upstream and rebuilt."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db.models import Baseline
from bot.db.session import session_scope
from bot.settings import ProjectSettings, Settings
from workers import steps, tree

log = logging.getLogger("seriesbot.baseline")


@dataclass(frozen=True)
class BaselineVerdict:
    sha: str
    build_ok: bool
    failed_tests: frozenset[str]
    cached: bool


def load(settings: Settings, project: ProjectSettings, sha: str) -> BaselineVerdict | None:
    with session_scope(settings.database_url) as session:
        row = session.scalar(select(Baseline).where(
            Baseline.project == project.name, Baseline.sha == sha, Baseline.config_version == project.config_version))
        if row is None:
            return None
        return BaselineVerdict(sha, row.build_ok, frozenset(row.failed_tests), True)


def ensure(settings: Settings, project: ProjectSettings, ptree: tree.ProjectTree, ws: steps.Workspace, sha: str,
           log_dir: Path) -> BaselineVerdict:
    """The cached verdict, or build and test `sha` now, in the upstream tree (`ptree.upstream_src`
    and `ptree.upstream_build`; `ws` is the series' workspace, whose other paths it shares)."""
    cached = load(settings, project, sha)
    if cached is not None:
        return cached
    tree.prepare_worktree(ptree, ptree.upstream_src, sha)
    ws = ws.with_build(ptree.upstream_src, ptree.upstream_build)
    built = steps.run_build(project.build, ws, log_dir, "upstream")
    failed: list[str] = []
    durations: dict[str, float] = {"build": round(built.duration, 3)}
    if built.setup_duration:
        durations["setup"] = round(built.setup_duration, 3)
    if built.status == "ok":
        tested = steps.run_tests(project.build, ws, log_dir, "upstream")
        failed = sorted(t.name for t in tested.failed_tests)
        durations["test"] = round(tested.duration, 3)
    verdict = BaselineVerdict(sha, built.status == "ok", frozenset(failed), False)
    with session_scope(settings.database_url) as session:
        session.add(Baseline(project=project.name, sha=sha, config_version=project.config_version,
                             build_ok=verdict.build_ok, failed_tests=failed,
                             build_errors=[str(m) for m in built.messages if m.kind == "error"][:10],
                             durations=durations))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()  # another worker stored the same baseline first
    log.info("event=baseline project=%s sha=%s build_ok=%s failed=%s durations=%s ccache=%s", project.name, sha[:12],
             verdict.build_ok, failed, durations, built.cache.as_dict() if built.cache else None)
    return verdict


class LazyBaseline:
    """Upstream's verdict at the run's base, taken the first time a patch needs it (then kept for
    the run). `spent` is the time spent building it (a patch's durations show what it waited)."""

    def __init__(self, settings: Settings, project: ProjectSettings, ptree: tree.ProjectTree, ws: steps.Workspace,
                 sha: str, log_dir: Path) -> None:
        self.settings, self.project, self.ptree, self.ws, self.sha, self.log_dir = (
            settings, project, ptree, ws, sha, log_dir)
        self.verdict: BaselineVerdict | None = None
        self.spent = 0.0

    def __call__(self) -> BaselineVerdict:
        if self.verdict is None:
            started = time.monotonic()
            self.verdict = ensure(self.settings, self.project, self.ptree, self.ws, self.sha, self.log_dir)
            if not self.verdict.cached:  # built now, not read from an earlier run
                self.spent += time.monotonic() - started
        return self.verdict
