"""A project shaped like libvirt, on a small C tree of its own, through the real pipeline (git, meson,
ninja, meson test): a git submodule that configure needs (mirrored from an offline URL mapping, the
.gitmodules URL unreachable), a test meson defines only in a real git checkout (`.git` a directory,
as libvirt's syntax-check), thousands of warnings before the error, a link error, a patch that only
inherits the breakage, a setup argv over 1,000 characters, and an upstream that cannot configure."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models import OutboundMail, Run
from bot.db.session import init_db, session_scope
from bot.report.report import report_patch, report_run
from bot.settings import load_settings, set_settings
from tests.ingest_driver import all_series, deliver
from tests.stack import write_config
from workers import steps
from workers.pipeline import run_series

ENV = {**os.environ, "GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.org",
       "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.org", "GIT_CONFIG_NOSYSTEM": "1",
       "GIT_AUTHOR_DATE": "2026-01-05T10:00:00Z", "GIT_COMMITTER_DATE": "2026-01-05T10:00:00Z"}
WARNINGS = 3000
MESON = """project('mini', 'c')
# like libvirt's src/util/meson.build: configure needs a program from a git submodule
gen = find_program('sub/tools/gen.py')
hdr = custom_target('gen', output: 'gen.h', command: [gen, '@OUTPUT@'])
lib = static_library('mini', 'lib.c', hdr)
prog = executable('prog', 'prog.c', hdr, link_with: lib)
tool = executable('tool', 'tool.c')  # built even while lib.c is broken (ninja -k 0)
test('prog', prog)
# like libvirt's syntax-check: defined only in a git checkout, and reads the git objects
if run_command('test', '-d', '.git', check: false).returncode() == 0
  test('git-log', find_program('git'), args: ['-C', meson.project_source_root(), 'log', '-1', '--format=%s'],
       suite: 'syntax-check')
endif
"""
LIB = "".join(f"int mini_f{i}(void) {{ int unused{i}; return {i}; }}\n" for i in range(WARNINGS))
PROG = '#include "gen.h"\nint mini_f1(void);\nint main(void) { return mini_f1() - GEN_ONE; }\n'
PROJECT = """
name = "{name}"
list_id = "{name}.lists.test"
list_address = "devel@{name}.test"
upstream = "{upstream}"
branch = "main"

[submodules]
{mapping}

[build]
setup = {setup}
setup_timeout = 300
build_timeout = 300
test_timeout = 300

[rules]
profiles = ["generic"]
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, env=ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def commit(work: Path, message: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-qm", f"{message}\n\nSigned-off-by: Ada Lovelace <ada@example.org>")


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """(upstream bare repo, submodule bare repo, the series' mails)."""
    base = tmp_path_factory.mktemp("trees")
    sub = base / "sub-work"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    (sub / "tools").mkdir()
    commit(sub, "gen", {"tools/gen.py": "#!/usr/bin/env python3\nimport sys\n"
                                        "open(sys.argv[1], 'w').write('#define GEN_ONE 1\\n')\n"})
    os.chmod(sub / "tools" / "gen.py", 0o755)
    git(sub, "add", "-A")
    git(sub, "commit", "-q", "--amend", "--no-edit")
    git(base, "clone", "-q", "--bare", str(sub), "sub.git")
    work = base / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    # the URL upstream's .gitmodules gives is not reachable from here: the project maps it
    git(work, "submodule", "add", "-q", str(base / "sub.git"), "sub")
    git(work, "config", "-f", ".gitmodules", "submodule.sub.url", "/nonexistent/mirrors/sub.git")
    commit(work, "mini: upstream", {"meson.build": MESON, "lib.c": LIB, "prog.c": PROG,
                                    "tool.c": "int main(void) { return 0; }\n"})
    git(base, "clone", "-q", "--bare", str(work), "upstream.git")
    upstream_sha = git(work, "rev-parse", "HEAD")
    commit(work, "prog: say what it does", {"prog.c": "/* prog: returns 0 */\n" + PROG})
    commit(work, "lib: use a flag", {"lib.c": LIB + "int mini_flag(void) { return MINI_FLAG; }\n"})
    commit(work, "docs: add a README", {"README": "mini\n"})
    commit(work, "tool: call the helper", {"tool.c": "int mini_helper(void);\n"
                                                     "int main(void) { return mini_helper(); }\n"})
    out = subprocess.run(["git", "format-patch", "--stdout", "--thread=shallow", "--cover-letter",
                          "--add-header=List-Id: <mini.lists.test>", "--to=devel@mini.test", f"{upstream_sha}..HEAD"],
                         cwd=work, env=ENV, check=True, capture_output=True).stdout
    mails = [b"From " + m if not m.startswith(b"From ") else m for m in out.split(b"\nFrom ") if m.strip()]
    mails = [m.split(b"\n", 1)[1] for m in mails]
    mails[0] = mails[0].replace(b"*** SUBJECT HERE ***", b"mini: four steps").replace(b"*** BLURB HERE ***", b"")
    return base / "upstream.git", base / "sub.git", mails


def settings_for(tmp_path: Path, name: str, upstream: Path, mapping: str, setup: list[str]):
    project = PROJECT.format(name=name, upstream=upstream, mapping=mapping, setup=json.dumps(setup))
    config = write_config(tmp_path, smtp_port=1, web_port=2, relay_port=3, extra_projects={name: project})
    settings = replace(load_settings(config, env={}), admin_addresses=("admin@example.org",))
    set_settings(settings)
    init_db(settings.database_url)
    return settings


def run_once(settings, mails, to):
    for raw in mails:
        deliver(settings, raw, to=to)
    [series] = [s for s in all_series(settings) if s["project"] != "demo"]
    with session_scope(settings.database_url) as s:
        run_id = s.scalar(select(Run.id).where(Run.series_id == series["id"]))
    return run_id, run_series(run_id, settings)


def test_a_libvirt_shaped_tree_is_built_as_a_developer_s_clone(trees, tmp_path):
    upstream, sub, mails = trees
    long_setup = ["meson", "setup", "{build}", "{src}", "-Dc_args=" + " ".join(f"-DMINI_OPT{i}=1" for i in range(80)),
                  "--native-file={config}/mini-native.ini"]  # as libvirt.toml: a file of the bot's config
    assert len(" ".join(long_setup)) > 1000
    settings = settings_for(tmp_path, "mini", upstream, f'"sub" = "{sub}"', long_setup)
    (settings.config_path.parent / "mini-native.ini").write_text("[binaries]\nc = 'gcc'\n")
    long_setup[-1] = f"--native-file={settings.config_path.parent}/mini-native.ini"
    run_id, outcome = run_once(settings, mails, "devel@mini.test")
    assert outcome == "done"
    src = settings.data_dir / "work" / "test-worker" / "mini" / "src"
    assert (src / ".git").is_dir() and (src / "sub" / "tools" / "gen.py").exists()
    with session_scope(settings.database_url) as s:
        run = s.get(Run, run_id)
        results = {r.index: (r.build, r.test, r.verdict, dict(r.details), dict(r.durations)) for r in run.results}
        assert run.state == "done" and run.verdict == "fail"
    # 1: passes, with the git-only test among those that ran, setup timed apart from the build
    build, test, verdict, d1, durations = results[1]
    assert (build, test) == ("ok", "ok"), d1
    assert d1["tests"] == {"run": 2, "skipped": 0, "suites": {"syntax-check": 1, "mini": 1}}
    assert durations["build"] > 0 and durations.get("setup", 1) > 0  # setup (when it ran here) timed apart
    assert d1["commands"]["build"] == ["ninja", "-C", "{build}", "-k", "0"]
    assert "--num-processes" not in d1["commands"]["test"] and d1["commands"]["setup"] == long_setup
    # 2: its error, found after 3,000 warnings, with its function; warnings counted apart
    build, test, verdict, d2, _ = results[2]
    assert (build, verdict) == ("fail", "fail")
    assert d2["build_errors"][0].startswith("lib.c:3001:")
    assert "MINI_FLAG" in d2["build_errors"][0] and "(in function 'mini_flag')" in d2["build_errors"][0]
    assert d2["build_warning_count"] >= WARNINGS
    # 3: fails only as patch 2 left it: still broken, not failed
    build, test, verdict, d3, _ = results[3]
    assert (build, verdict) == ("blocked", "blocked") and "still broken since patch 2" in d3["build_note"]
    # 4: its own link error first, under the target ninja could not make, patch 2's after it
    build, test, verdict, d4, _ = results[4]
    assert (build, verdict) == ("fail", "fail")
    assert "undefined reference to `mini_helper'" in d4["build_errors"][0] and d4["build_errors_since"][:2] == [4, 2]
    assert d4["build_error_targets"][0] == "build/tool" and "(in function 'main')" in d4["build_errors"][0]
    # the mails: every line fits SMTP, the reproduce lines are what ran in a reader's paths
    for index in results:
        with session_scope(settings.database_url) as s:
            result_id = next(r.id for r in s.get(Run, run_id).results if r.index == index)
        report_patch(result_id, settings)
    report_run(run_id, settings)
    with session_scope(settings.database_url) as s:
        bodies = {m.key: m.body for m in s.scalars(select(OutboundMail))}
    summary = bodies[f"run-{run_id}/summary"]
    assert "1 passed, 0 with warnings, 2 failed, 1 still broken" in " ".join(summary.split())
    reply = bodies[f"run-{run_id}/patch-1/reply"]
    assert "2 tests ran (mini 1, syntax-check 1)" in " ".join(reply.split())
    assert "  meson setup build . '-Dc_args=-DMINI_OPT0=1" in reply or '  meson setup build . \\' in reply
    assert "meson test -C build --no-rebuild --print-errorlogs" in reply and "ninja -C build -k 0" in reply
    for key, body in bodies.items():
        assert max(len(line.encode()) for line in body.split("\n")) <= 998, key
        assert str(settings.data_dir) not in body, key
    assert "FAILED: build/tool" in bodies[f"run-{run_id}/patch-4/reply"]
    assert steps.jobs() >= 1


def test_an_upstream_that_does_not_configure_is_an_infrastructure_state_for_the_admins(trees, tmp_path):
    upstream, _, mails = trees
    settings = settings_for(tmp_path, "mini", upstream, "", ["meson", "setup", "{build}", "{src}"])
    run_id, outcome = run_once(settings, mails, "devel@mini.test")
    assert outcome == "error"
    with session_scope(settings.database_url) as s:
        run = s.get(Run, run_id)
        assert run.state == "error" and "does not configure or build" in run.error
        assert "sub/tools/gen.py" in run.error and "ERROR" not in run.error.split("\n")[0]
        assert all(r.verdict not in ("ok", "warn") for r in run.results)
    report_run(run_id, settings)
    with session_scope(settings.database_url) as s:
        mails_out = s.scalars(select(OutboundMail)).all()
        assert [(m.kind, m.to) for m in mails_out] == [("admin-alert", ["admin@example.org"])]
        assert "upstream does not build" in mails_out[0].subject and "gen.py" in mails_out[0].body


def test_a_build_directory_is_configured_again_when_the_setup_arguments_change(tmp_path):
    from bot.settings import BuildSettings

    src, build = tmp_path / "src", tmp_path / "build"
    src.mkdir()
    (src / "meson.build").write_text("project('t', 'c')\nexecutable('t', 't.c')\n")
    (src / "t.c").write_text("int main(void) { return 0; }\n")
    ws = steps.Workspace(src, build)
    cfg = BuildSettings(setup=("meson", "setup", "{build}", "{src}"))
    first = steps.run_build(cfg, ws, tmp_path / "logs", "a")
    again = steps.run_build(cfg, ws, tmp_path / "logs", "b")
    assert first.status == again.status == "ok" and first.setup_duration > 0 and again.setup_duration == 0
    changed = replace(cfg, setup=(*cfg.setup, "-Dbuildtype=release"))
    third = steps.run_build(changed, ws, tmp_path / "logs", "c")
    assert third.status == "ok" and third.setup_duration > 0
    assert "release" in (build / "meson-info" / "intro-buildoptions.json").read_text()
