"""Per-patch speed of the test stage (a benchmark, not a test).

On a generated C tree of about 300 source files and a 10-patch series (each patch touching 1-3
files, one of them a header every file includes), measures in one run:
  1. seriesbot's wall time per patch (the pipeline in-process: apply, checkout, incremental build,
     meson test, rules, results stored), on a warm build directory;
  2. the hand-run baseline: `git checkout <commit> && ninja && meson test` of the same commits in the
     same kind of warm tree;
  3. the naive way: a fresh clone and full build and test for every patch (measured on --naive
     patches and averaged);
and prints the ratios, plus the bot's own overhead per patch (all but the build and test commands).

    .venv/bin/python -m bench.pipeline_speed [--files 300] [--naive 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bot.db.models import PatchResult, Run
from bot.db.session import init_db, session_scope
from bot.settings import load_settings, set_settings
from tests.ingest_driver import all_series, deliver
from tests.stack import write_config
from workers.pipeline import run_series

ENV = {**os.environ, "GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.org",
       "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.org", "GIT_CONFIG_NOSYSTEM": "1"}
PROJECT = """
name = "gen"
list_id = "devel.gen.test"
list_address = "devel@gen.test"
upstream = "{upstream}"
branch = "main"

[rules]
profiles = ["generic"]
"""


def sh(cwd: Path, *argv: str) -> str:
    return subprocess.run(argv, cwd=cwd, env=ENV, check=True, capture_output=True, text=True).stdout


def generate_tree(root: Path, files: int) -> None:
    (root / "src").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "include" / "common.h").write_text("#pragma once\n#define GEN_VERSION 1\nint gen_common(int x);\n")
    for i in range(files):
        body = "\n".join(f"static int helper_{i}_{k}(int x) {{ return x * {k} + GEN_VERSION; }}" for k in range(30))
        calls = " + ".join(f"helper_{i}_{k}(x)" for k in range(30))
        (root / "src" / f"mod{i:03d}.c").write_text(
            f'#include "common.h"\n#include <stdio.h>\n{body}\nint mod{i:03d}(int x) {{ return {calls}; }}\n')
    names = ", ".join(f"'src/mod{i:03d}.c'" for i in range(files))
    (root / "src" / "common.c").write_text('#include "common.h"\nint gen_common(int x) { return x + 1; }\n')
    (root / "tests").mkdir()
    (root / "tests" / "t1.c").write_text('#include "common.h"\nint main(void) { return gen_common(1) == 2 ? 0 : 1; }\n')
    (root / "meson.build").write_text(
        "project('gen', 'c')\ninc = include_directories('include')\n"
        f"lib = static_library('gen', [{names}, 'src/common.c'], include_directories: inc)\n"
        "t1 = executable('t1', 'tests/t1.c', link_with: lib, include_directories: inc)\n"
        "test('t1', t1)\ntest('t2', t1)\n")


def make_series(work: Path, files: int, count: int = 10) -> None:
    for n in range(1, count + 1):
        if n == 5:
            common = work / "include" / "common.h"
            common.write_text(common.read_text() + f"#define GEN_EXTRA_{n} {n}\n")
            touched = [common]
        else:
            touched = [work / "src" / f"mod{(n * 37 + k * 11) % files:03d}.c" for k in range(1 + n % 3)]
            for path in touched:
                path.write_text(path.read_text() + f"int extra_{n}_{path.stem}(void) {{ return {n}; }}\n")
        sh(work, "git", "add", *[str(p) for p in touched])
        sh(work, "git", "commit", "-q", "-s", "-m", f"mod: change number {n}\n\nTouch {len(touched)} file(s).")


def timed(cwd: Path, *argv: str) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, check=False, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--naive", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        src = base / "gen-src"
        generate_tree(src, args.files)
        sh(src, "git", "init", "-q", "--initial-branch=main")
        sh(src, "git", "add", "-A")
        sh(src, "git", "commit", "-q", "-m", "initial")
        upstream = base / "upstream.git"
        sh(base, "git", "clone", "-q", "--bare", str(src), str(upstream))
        contributor = base / "contributor"
        sh(base, "git", "clone", "-q", str(upstream), str(contributor))
        make_series(contributor, args.files)
        commits = sh(contributor, "git", "rev-list", "--reverse", "origin/main..HEAD").split()
        upstream_sha = sh(contributor, "git", "rev-parse", "origin/main").strip()
        patches = base / "patches"
        sh(contributor, "git", "format-patch", "-q", "--cover-letter", "--thread=shallow", "-o", str(patches),
           "--add-header=List-Id: <devel.gen.test>", "origin/main..HEAD")

        # seriesbot: warm-up run (mirror, build directory, upstream verdict), then the measured one
        config = write_config(base / "bot", smtp_port=1, web_port=2, relay_port=3)
        (config.parent / "projects" / "demo.toml").unlink()
        (config.parent / "projects" / "gen.toml").write_text(PROJECT.format(upstream=upstream))
        settings = load_settings(config, env={})
        set_settings(settings)
        init_db(settings.database_url)

        def deliver_series(tag: str) -> int:
            for path in sorted(patches.glob("*.patch")):
                text = path.read_text().split("\n", 1)[1]
                text = text.replace("Message-ID: <", f"Message-ID: <{tag}.").replace("In-Reply-To: <", f"In-Reply-To: <{tag}.") \
                    .replace("References: <", f"References: <{tag}.")
                deliver(settings, text.encode(), to="devel@gen.test")
            series = all_series(settings)[-1]
            with session_scope(settings.database_url) as s:
                return s.scalar(select(Run.id).where(Run.series_id == series["id"], Run.state == "queued"))

        started = time.perf_counter()
        run_series(deliver_series("warm"), settings)
        warmup = time.perf_counter() - started
        from bot.db.models import Series
        from bot.schedule import create_run
        with session_scope(settings.database_url) as s:
            series = s.scalars(select(Series)).all()[-1]
            measured = create_run(s, settings, series, trigger="retest", options={"force": True}).id
        # back to the base so the measured run, like the hand-run, starts from a tree built at upstream
        bot_tree = settings.data_dir / "work" / "test-worker" / "gen"
        sh(bot_tree / "src", "git", "checkout", "-q", "--detach", upstream_sha)
        subprocess.run(["ninja", "-C", str(bot_tree / "build")], capture_output=True, check=False)
        started = time.perf_counter()
        run_series(measured, settings)
        bot_total = time.perf_counter() - started
        with session_scope(settings.database_url) as s:
            rows = s.scalars(select(PatchResult).where(PatchResult.run_id == measured).order_by(PatchResult.index)).all()
            steps = sum(r.durations.get("build", 0) + r.durations.get("test", 0) for r in rows)
            verdicts = [r.verdict for r in rows]

        # hand-run: a warm clone built at the base, then checkout + ninja + meson test per commit
        hand = base / "hand"
        sh(base, "git", "clone", "-q", str(contributor), str(hand))
        sh(hand, "git", "checkout", "-q", upstream_sha)
        sh(hand, "meson", "setup", "build")
        subprocess.run(["ninja", "-C", "build"], cwd=hand, capture_output=True, check=True)
        started = time.perf_counter()
        for sha in commits:
            sh(hand, "git", "checkout", "-q", sha)
            subprocess.run(["ninja", "-C", "build"], cwd=hand, capture_output=True, check=False)
            subprocess.run(["meson", "test", "-C", "build", "--no-rebuild"], cwd=hand, capture_output=True, check=False)
        hand_total = time.perf_counter() - started

        # naive: fresh clone, configure, full build and test for each patch
        naive_times = []
        for sha in commits[: args.naive]:
            fresh = base / f"naive-{sha[:8]}"
            started = time.perf_counter()
            sh(base, "git", "clone", "-q", str(contributor), str(fresh))
            sh(fresh, "git", "checkout", "-q", sha)
            sh(fresh, "meson", "setup", "build")
            subprocess.run(["ninja", "-C", "build"], cwd=fresh, capture_output=True, check=False)
            subprocess.run(["meson", "test", "-C", "build", "--no-rebuild"], cwd=fresh, capture_output=True, check=False)
            naive_times.append(time.perf_counter() - started)
            shutil.rmtree(fresh)
    n = len(commits)
    bot_per, hand_per, naive_per = bot_total / n, hand_total / n, sum(naive_times) / len(naive_times)
    print(f"tree: {args.files} source files; series: {n} patches (patch 5 touches the header every file includes)")
    print(f"verdicts: {verdicts}")
    print(f"warm-up run (clone mirror, configure, upstream verdict, 10 patches): {warmup:.1f} s")
    print(f"seriesbot per patch:        {bot_per:6.2f} s")
    print(f"hand-run per patch:         {hand_per:6.2f} s   -> seriesbot / hand-run = {bot_per / hand_per:.2f}x "
          "(target <= 1.10x)")
    print(f"naive per patch:            {naive_per:6.2f} s   -> naive / seriesbot = {naive_per / bot_per:.1f}x "
          "(target >= 5x)")
    print(f"seriesbot overhead per patch (all but build and test commands): {(bot_total - steps) / n:.3f} s "
          "(target < 0.5 s)")


if __name__ == "__main__":
    main()
