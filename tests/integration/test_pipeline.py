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


def _with_project(settings, **changes):
    from dataclasses import replace

    project = replace(settings.project("demo"), **changes)
    return replace(settings, projects={**settings.projects, "demo": project})


def test_unchanged_patches_of_a_new_version_are_reused_and_retest_forces_a_fresh_run(bot_settings):
    from bot.schedule import create_run

    create_upstream(Path(bot_settings.project("demo").upstream))
    for raw in demo_mails("r1"):
        deliver(bot_settings, raw)
    [v1] = all_series(bot_settings)
    run_series(queued_run(bot_settings, v1["id"]), bot_settings)
    for raw in demo_mails("r2"):  # the same patches again, new Message-IDs (a resend)
        deliver(bot_settings, raw)
    v2 = all_series(bot_settings)[1]
    run2 = queued_run(bot_settings, v2["id"])
    run_series(run2, bot_settings)
    detail = run_detail(bot_settings, run2)
    assert {i: r[:4] for i, r in detail["results"].items()} == {
        1: ("ok", "ok", "ok", "ok"), 2: ("ok", "ok", "ok", "fail"), 3: ("ok", "ok", "fail", "ok"),
        4: ("ok", "fail", "skip", "ok")}
    assert all("reused" in r[4].get("reused_note", "") for r in detail["results"].values())
    with session_scope(bot_settings.database_url) as session:
        series = session.get(Series, v2["id"])
        forced = create_run(session, bot_settings, series, trigger="retest", options={"force": True}).id
    run_series(forced, bot_settings)
    assert not any("reused_note" in r[4] for r in run_detail(bot_settings, forced)["results"].values())


def test_test_mode_last_builds_the_others_only(bot_settings):
    settings = _with_project(bot_settings, build=__import__("dataclasses").replace(
        bot_settings.project("demo").build, test_mode="last"))
    create_upstream(Path(settings.project("demo").upstream))
    for raw in demo_mails("l", indexes=[1, 2, 3]):
        deliver(settings, raw)
    [s] = all_series(settings)
    run_id = queued_run(settings, s["id"])
    run_series(run_id, settings)
    results = run_detail(settings, run_id)["results"]
    assert results[1][:3] == ("ok", "ok", "skip") and "build-only" in results[1][4]["test_note"]
    assert results[3][:3] == ("ok", "ok", "fail")


def test_broken_worktree_and_leftover_am_are_repaired(bot_settings):
    import shutil

    create_upstream(Path(bot_settings.project("demo").upstream))
    for raw in demo_mails("w1", indexes=[1]):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    run_series(queued_run(bot_settings, s["id"]), bot_settings)
    src = bot_settings.data_dir / "work" / "test-worker" / "demo" / "src"
    (src / "junk.o").write_text("left behind")
    gitdir = Path(git(src, "rev-parse", "--git-dir"))
    (gitdir if gitdir.is_absolute() else src / gitdir).joinpath("rebase-apply").mkdir()
    for raw in demo_mails("w2", indexes=[1, 2]):
        deliver(bot_settings, raw)
    second = all_series(bot_settings)[1]
    run_id = queued_run(bot_settings, second["id"])
    run_series(run_id, bot_settings)
    assert run_detail(bot_settings, run_id)["results"][1][:3] == ("ok", "ok", "ok")
    assert not (src / "junk.o").exists()
    shutil.rmtree(src)  # a crashed run left no worktree at all
    for raw in demo_mails("w3", indexes=[1, 2, 3]):
        deliver(bot_settings, raw)
    third = all_series(bot_settings)[2]
    run_id = queued_run(bot_settings, third["id"])
    run_series(run_id, bot_settings)
    assert run_detail(bot_settings, run_id)["results"][3][:3] == ("ok", "ok", "fail")


def test_patch_already_upstream_is_not_a_conflict(bot_settings, tmp_path):
    work = upstream_clone(bot_settings, tmp_path)
    mails = demo_mails("ua", indexes=[1, 2])
    (tmp_path / "p1.eml").write_bytes(mails[1])
    git(work, "am", "-q", str(tmp_path / "p1.eml"))
    git(work, "push", "-q", "origin", "HEAD:main")
    for raw in mails:
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    run_id = queued_run(bot_settings, s["id"])
    run_series(run_id, bot_settings)
    results = run_detail(bot_settings, run_id)["results"]
    assert results[1][0] == "warn" and "already applied upstream" in results[1][4]["apply_note"]
    assert results[2][:2] == ("ok", "ok")


def test_infrastructure_errors_are_retried_then_go_to_the_admins_not_the_list(bot_settings):
    from dataclasses import replace

    from bot.db.models import OutboundMail
    from bot.report.report import report_run

    settings = replace(_with_project(bot_settings, upstream="/nonexistent/upstream.git"),
                       admin_addresses=("admin@example.org",))
    for raw in demo_mails("ie", indexes=[1]):
        deliver(settings, raw)
    [s] = all_series(settings)
    run_id = queued_run(settings, s["id"])
    outcomes = [run_series(run_id, settings) for _ in range(4)]
    assert outcomes == ["retry", "retry", "retry", "error"]
    detail = run_detail(settings, run_id)
    assert detail["state"] == "error" and "git clone" in detail["error"]
    report_run(run_id, settings)
    with session_scope(settings.database_url) as session:
        mails = session.scalars(select(OutboundMail)).all()
        assert [(m.kind, m.to) for m in mails] == [("admin-alert", ["admin@example.org"])]


def test_a_superseded_series_run_stops_at_the_next_patch_boundary(bot_settings):
    import threading
    from dataclasses import replace as dc_replace

    from bot.db.models import PatchResult

    settings = _with_project(bot_settings, build=dc_replace(
        bot_settings.project("demo").build, build=("sh", "-c", 'sleep 1; exec ninja -C "$0"', "{build}")))
    create_upstream(Path(settings.project("demo").upstream))
    for raw in demo_mails("s1"):
        deliver(settings, raw)
    [v1] = all_series(settings)
    run_id = queued_run(settings, v1["id"])
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(run_series(run_id, settings)))
    worker.start()

    def patches_done() -> int:
        with session_scope(settings.database_url) as s:
            return len(s.scalars(select(PatchResult).where(PatchResult.run_id == run_id)).all())

    from tests.helpers import wait_for

    wait_for(lambda: patches_done() >= 1, 120, interval=0.05, what="patch 1 of v1")
    for raw in demo_mails("s2"):  # v1 again under new Message-IDs: a resend supersedes it
        deliver(settings, raw)
    worker.join(120)
    detail = run_detail(settings, run_id)
    assert detail["state"] == "cancelled" and outcome == ["done"]
    skipped = [i for i, r in detail["results"].items() if "cancelled" in r[4].get("apply_note", "")]
    assert skipped and len(skipped) < 4 and max(detail["results"]) == 4


def test_retest_on_a_base_upstream_does_not_have_is_refused_to_the_requester(bot_settings):
    from bot.db.models import OutboundMail
    from bot.report.report import report_run
    from bot.schedule import create_run

    create_upstream(Path(bot_settings.project("demo").upstream))
    for raw in demo_mails("nb", indexes=[1]):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    run_series(queued_run(bot_settings, s["id"]), bot_settings)
    with session_scope(bot_settings.database_url) as session:
        series = session.get(Series, s["id"])
        run_id = create_run(session, bot_settings, series, trigger="retest", requested_by="ada@example.org",
                            options={"force": True, "base": "no-such-branch"}).id
    assert run_series(run_id, bot_settings) == "refused"
    assert report_run(run_id, bot_settings)
    with session_scope(bot_settings.database_url) as session:
        mail = session.scalars(select(OutboundMail).where(OutboundMail.run_id == run_id)).one()
        assert mail.to == ["ada@example.org"] and "no-such-branch" in mail.body and "does not resolve" in mail.body
        assert session.get(Series, s["id"]).state == "passed"


def test_a_warning_on_a_line_the_patch_adds_is_reported(bot_settings, tmp_path):
    work = upstream_clone(bot_settings, tmp_path)
    path = work / "src" / "libvirt-domain.c"
    text = path.read_text()
    marker = "virResetLastError();"
    first = text.index(marker)
    path.write_text(text[:first] + "int seriesbot_unused_variable = 1;\n    " + text[first:])
    git(work, "commit", "-qam", "domain: add a variable\n\nSigned-off-by: Up <up@x>")
    raw = subprocess.run(["git", "format-patch", "--stdout", "-1", "--add-header=List-Id: <devel.demo.seriesbot.test>"],
                         cwd=work, capture_output=True, check=True).stdout
    git(work, "reset", "-q", "--hard", "HEAD~1")
    deliver(bot_settings, raw.split(b"\n", 1)[1])
    [s] = all_series(bot_settings)
    run_id = queued_run(bot_settings, s["id"])
    run_series(run_id, bot_settings)
    apply, build, test, rules, details = run_detail(bot_settings, run_id)["results"][1]
    assert (apply, build, test) == ("ok", "warn", "ok"), details
    assert "seriesbot_unused_variable" in details["new_warnings"][0]
    assert details["new_warnings"][0].startswith("src/libvirt-domain.c:")
