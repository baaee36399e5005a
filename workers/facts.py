"""What a patch's result says beside its verdict, for the reply and the API: the commands that really
ran (so a reader can reproduce them), how many tests ran and in which suites, the C files the patch
changes that this configuration does not compile, and why a run stopped because upstream itself
does not build."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from bot.db.models import Baseline
from bot.db.session import session_scope
from bot.errors import InfraError
from bot.records import TestOutcome
from bot.settings import ProjectSettings, Settings
from workers import buildlog, tree
from workers.steps import StepOutcome, Workspace, build_argv, expand


class UpstreamBroken(InfraError):
    """Upstream does not configure or build at the run's base: not the series' fault, and not worth
    retrying until someone looks (a missing build dependency, or upstream really broken)."""


def commands(project: ProjectSettings, ws: Workspace, *outcomes: StepOutcome) -> dict[str, list[str]]:
    """setup, build and test as they ran here ({src} and {build} kept as placeholders, {jobs} the real
    value): the steps this patch ran, the configured ones for the others (setup ran in an earlier run)."""
    b = project.build
    found: dict[str, list[str]] = {}
    for name, argv in (("setup", b.setup), ("build", build_argv(b)), ("test", b.test)):
        if argv:
            found[name] = expand(argv, ws.src, ws.build, keep_paths=True)
    for outcome in outcomes:
        found.update({k: v for k, v in outcome.argv.items() if k != "test" or not v[len(b.test):]})
    return found


def test_counts(tests: list[TestOutcome]) -> dict[str, Any]:
    """{"run": n, "skipped": n, "suites": {suite: n}}: every reply says how many tests ran."""
    ran = [t for t in tests if t.status != "SKIP"]
    suites = Counter(t.suite or "default" for t in ran)
    return {"run": len(ran), "skipped": len(tests) - len(ran),
            "suites": dict(sorted(suites.items(), key=lambda kv: (-kv[1], kv[0])))}


def not_built_here(ptree: tree.ProjectTree, ws: Workspace, parent: str, commit: str) -> list[str]:
    """C sources the patch changes that the build's compile database does not list."""
    compiled = buildlog.compiled_sources(ws.build, buildlog.Paths(ws.src, ws.build))
    if compiled is None:
        return []
    changed = tree.git(ptree.mirror, "diff", "--name-only", "--no-renames", "--diff-filter=AM", parent, commit)
    return buildlog.not_built(changed.stdout.split(), compiled) if changed.ok else []


def upstream_broken(settings: Settings, project: ProjectSettings, sha: str, fallback: list[str],
                    log_path: str | Path) -> UpstreamBroken:
    """The run's error for the dashboard and the admins' mail, with upstream's own errors; the cached
    verdict is dropped so the next run (once the machine or upstream is fixed) looks again."""
    with session_scope(settings.database_url) as session:
        errors = session.scalar(select(Baseline.build_errors).where(
            Baseline.project == project.name, Baseline.sha == sha,
            Baseline.config_version == project.config_version)) or fallback
        session.execute(delete(Baseline).where(Baseline.project == project.name, Baseline.sha == sha,
                                               Baseline.config_version == project.config_version))
    lines = [f"upstream {sha[:12]} does not configure or build with this project's configuration, so no "
             "patch was tested (a missing build dependency on the worker, or upstream itself broken)."]
    lines += [f"  {e}" for e in list(errors)[:10]]
    lines.append(f"  the same build with the first patch: {log_path}")
    return UpstreamBroken("\n".join(lines))
