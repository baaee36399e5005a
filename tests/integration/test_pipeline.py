"""The test stage in-process (no broker) with real git, meson and ninja on the demo project:
per-patch verdicts, Based-on, base-commit fallback, merged detection."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sqlalchemy import select

from bot.db.models import Run, Series
from bot.db.session import session_scope
from bot.demo.upstream import create_upstream
from tests.fixtures_demo import demo_mails
from tests.ingest_driver import all_series, deliver
from workers import tree
from workers.merged import detect_merged
from workers.pipeline import run_series

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Up", "GIT_AUTHOR_EMAIL": "up@x", "GIT_COMMITTER_NAME": "Up",
           "GIT_COMMITTER_EMAIL": "up@x", "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def queued_run(settings, series_id: int) -> int:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(Run.id).where(Run.series_id == series_id, Run.state == "queued"))


def run_detail(settings, run_id: int) -> dict:
    with session_scope(settings.database_url) as s:
        run = s.get(Run, run_id)
        return {"state": run.state, "verdict": run.verdict, "base_kind": run.base_kind, "base_ref": run.base_ref,
                "conflict": run.rebase_conflict, "error": run.error, "branch": run.branch,
                "results": {r.index: (r.apply, r.build, r.test, r.rules, dict(r.details)) for r in run.results}}


def upstream_adds_a_section(work: Path) -> None:
    """Upstream moves on with a change in the very place patch 1 edits."""
    syms = work / "src" / "libvirt_public.syms"
    text = syms.read_text().replace(
        "# .... define new API here",
        "LIBVIRT_1.0.9 {\n    global:\n        virDomainOther;\n} LIBVIRT_1.0.6;\n\n# .... define new API here")
    syms.write_text(text)
    git(work, "commit", "-qam", "upstream adds another section")
    git(work, "push", "-q", "origin", "HEAD:main")


def upstream_clone(settings, tmp_path: Path) -> Path:
    project = settings.project("demo")
    create_upstream(Path(project.upstream))
    work = tmp_path / "upstream-work"
    git(tmp_path, "clone", "-q", project.upstream, str(work))
    return work


def test_sample_series_verdicts_in_process(bot_settings):
    create_upstream(Path(bot_settings.project("demo").upstream))
    for raw in demo_mails("p"):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    run_id = queued_run(bot_settings, s["id"])
    assert run_series(run_id, bot_settings) == "done"
    run = run_detail(bot_settings, run_id)
    steps = {i: r[:4] for i, r in run["results"].items()}
    assert steps == {1: ("ok", "ok", "ok", "ok"), 2: ("ok", "ok", "ok", "fail"), 3: ("ok", "ok", "fail", "ok"),
                     4: ("ok", "fail", "skip", "ok")}
    assert run["base_kind"] == "tip" and run["branch"] == f"series/{s['id']}/run-{run_id}"
    # the run is idempotent: delivered again, it does nothing
    assert run_series(run_id, bot_settings) == "skipped"


def test_based_on_series_is_applied_first(bot_settings):
    create_upstream(Path(bot_settings.project("demo").upstream))
    for raw in demo_mails("a", indexes=[1]):
        deliver(bot_settings, raw)
    for raw in demo_mails("b", indexes=[2], cover_extra="Based-on: <a-0@example.org>\n\n"):
        deliver(bot_settings, raw)
    first, second = all_series(bot_settings)
    assert second["based_on"] == ["a-0@example.org"]
    run_id = queued_run(bot_settings, second["id"])
    run_series(run_id, bot_settings)
    run = run_detail(bot_settings, run_id)
    assert run["base_kind"] == "based-on" and run["results"][1][0] == "ok", run


def test_conflict_with_upstream_falls_back_to_base_commit(bot_settings, tmp_path):
    work = upstream_clone(bot_settings, tmp_path)
    base = git(work, "rev-parse", "HEAD")
    upstream_adds_a_section(work)
    for raw in demo_mails("c", indexes=[1], cover_extra=f"base-commit: {base}\n\n"):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["base_commit"] == base
    run_id = queued_run(bot_settings, s["id"])
    run_series(run_id, bot_settings)
    run = run_detail(bot_settings, run_id)
    assert run["base_kind"] == "base-commit", run
    assert run["conflict"]["index"] == 1 and "src/libvirt_public.syms" in run["conflict"]["files"]
    assert run["results"][1][:3] == ("ok", "ok", "ok")


def test_conflict_without_declared_base_is_reported_per_patch(bot_settings, tmp_path):
    work = upstream_clone(bot_settings, tmp_path)
    upstream_adds_a_section(work)
    for raw in demo_mails("d", indexes=[1, 2], cover=False):  # no cover: no base-commit
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    run_id = queued_run(bot_settings, s["id"])
    run_series(run_id, bot_settings)
    run = run_detail(bot_settings, run_id)
    apply1, _, _, _, details1 = run["results"][1]
    assert apply1 == "fail" and "src/libvirt_public.syms" in details1["conflict_files"]
    assert run["results"][2][0] == "skip" and "earlier patch" in run["results"][2][4]["apply_note"]


def test_merged_by_link_trailer_and_by_patch_id(bot_settings, tmp_path):
    work = upstream_clone(bot_settings, tmp_path)
    for raw in demo_mails("m", indexes=[1, 3]):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    project = bot_settings.project("demo")
    ptree = tree.ProjectTree(tmp_path / "wt", project.upstream, project.branch)
    tree.ensure_mirror(ptree)
    assert detect_merged(bot_settings, project, ptree) == 0
    mails = demo_mails("m", indexes=[1, 3])
    (tmp_path / "p1.eml").write_bytes(mails[1])
    git(work, "am", "-q", str(tmp_path / "p1.eml"))
    msg = git(work, "log", "-1", "--format=%B")
    git(work, "commit", "-q", "--amend", "-m", msg + "\nLink: https://lore.kernel.org/r/m-1@example.org\n")
    (tmp_path / "p2.eml").write_bytes(mails[2])
    git(work, "am", "-q", str(tmp_path / "p2.eml"))  # no trailer: found by patch-id
    git(work, "push", "-q", "origin", "HEAD:main")
    tree.ensure_mirror(ptree)
    assert detect_merged(bot_settings, project, ptree) == 2
    with session_scope(bot_settings.database_url) as session:
        assert session.get(Series, s["id"]).state == "merged"
