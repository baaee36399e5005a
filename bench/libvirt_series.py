"""Per-patch wall time of seriesbot on real libvirt against a hand-run (a benchmark, not a test).

The accepted netcreateflags series (5 patches on libvirt 7.8.0-dev at ddba9f1dc9), measured in one run:
  1. the bot: the series delivered and run in-process (git am, checkout with the keycodemapdb
     submodule, incremental `ninja -k 0`, `meson test` with syntax-check, rules, results stored), its
     build directory as the last run left it; a patch's wall time runs from the previous result
     being stored (patch 1: the run's start) to its own;
  2. the hand-run: a developer-style clone (`.git` a directory, the submodule checked out), the same
     native file, warm at the base, then per commit `git checkout && ninja -C build -k 0 && meson
     test -C build --no-rebuild --num-processes <jobs>`;
and prints per patch and in total bot/hand (target <= 1.05), the bot's overhead (its wall time less
its build and test commands), and the load average, since other work on the machine moves both.

    SERIESBOT_LIBVIRT_GIT=... SERIESBOT_KEYCODEMAPDB_GIT=... .venv/bin/python -m bench.libvirt_series \\
        [--native bench/libvirt-minimal.ini] [--work DIR] [--hand-first]

--work keeps both trees (and their warm build directories) for the next run; the default native file
is the shipped config/libvirt-native.ini (every driver Debian 12 can build: a full build is long).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from bot.db.models import PatchResult, Run
from bot.db.session import init_db, session_scope
from bot.settings import load_settings, set_settings
from tests.e2e import libvirt_real as lv
from tests.ingest_driver import all_series, deliver
from tests.stack import write_config
from workers import steps
from workers.pipeline import run_series

LIST = "devel@libvirt.seriesbot.test"


def sh(cwd: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=lv.GIT_ENV, check=check, capture_output=True, text=True)


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def hand_run(libvirt: Path, keycodemapdb: Path, work: Path, native: Path) -> list[tuple[float, str]]:
    clone, build = work / "hand" / "libvirt", work / "hand" / "build"
    if not (clone / ".git").is_dir():
        sh(work, "git", "clone", "-q", "--shared", "--no-checkout", str(libvirt), str(clone))
        sh(clone, "git", "config", "submodule.keycodemapdb.url", str(keycodemapdb))
    sh(clone, "git", "checkout", "-q", "--force", lv.BASE)
    sh(clone, "git", "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init")
    if not (build / "build.ninja").exists():
        sh(clone, "meson", "setup", str(build), ".", "--native-file", str(native))
    print(f"hand: warming the build directory at {lv.BASE} (load {load()})", flush=True)
    sh(clone, "ninja", "-C", str(build), "-k", "0", check=False)
    jobs = str(steps.jobs())
    times = []
    for commit in lv.SERIES:
        started = time.monotonic()
        sh(clone, "git", "checkout", "-q", commit)
        sh(clone, "git", "submodule", "update", "-q")
        built = sh(clone, "ninja", "-C", str(build), "-k", "0", check=False)
        tested = sh(clone, "meson", "test", "-C", str(build), "--no-rebuild", "--print-errorlogs",
                    "--num-processes", jobs, check=False)
        times.append((time.monotonic() - started, load()))
        print(f"hand: {commit} build rc={built.returncode} test rc={tested.returncode} "
              f"{times[-1][0]:.1f} s (load {times[-1][1]})", flush=True)
    return times


def bot_run(libvirt: Path, keycodemapdb: Path, work: Path) -> list[tuple[float, float, str]]:
    """(wall, build + test commands, load) per patch."""
    base = work / "bot"
    upstream = lv.make_upstream(libvirt, work / "upstream.git")
    config = write_config(base, smtp_port=1, web_port=2, relay_port=3,
                          extra_projects={"libvirt": lv.project_file("libvirt", upstream, keycodemapdb, LIST,
                                                                           base / "config")})
    settings = load_settings(config, env={})
    set_settings(settings)
    init_db(settings.database_url)
    files = lv.series_files(libvirt, work / "series", LIST)
    tag = f"{int(time.time())}.".encode()
    for path in files:  # new Message-IDs for every bench run, so a kept --work database runs again
        raw = path.read_bytes().split(b"\n", 1)[1]
        raw = re.sub(rb"^(Message-I[dD]|In-Reply-To|References): <", lambda m: m.group(0) + tag, raw, flags=re.M)
        deliver(settings, raw, to=LIST)
    series = [s for s in all_series(settings) if s["project"] == "libvirt"][-1]
    with session_scope(settings.database_url) as s:
        run_id = s.scalar(select(Run.id).where(Run.series_id == series["id"]).order_by(Run.id.desc()))
    print(f"bot: run {run_id} (upstream's verdict only if a patch fails)", flush=True)
    outcome = run_series(run_id, settings)
    with session_scope(settings.database_url) as s:
        rows = s.scalars(select(PatchResult).where(PatchResult.run_id == run_id).order_by(PatchResult.index)).all()
        # upstream's verdict is lazy now (taken only when a patch fails): patch 1 runs from the start
        run_row = s.get(Run, run_id)
        start = run_row.started_at if run_row is not None and run_row.started_at else rows[0].created_at
        out = []
        for row in rows:
            wall = (row.created_at - start).total_seconds()
            start = row.created_at
            commands = sum(float((row.durations or {}).get(k, 0)) for k in ("setup", "build", "test"))
            out.append((wall, commands, ""))
            print(f"bot: patch {row.index} {row.verdict} build={row.build} test={row.test} wall {wall:.1f} s, "
                  f"commands {commands:.1f} s, tests {row.details.get('tests')}", flush=True)
    print(f"bot: run {outcome}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--native", type=Path, help="meson native file (default: config/libvirt-native.ini)")
    parser.add_argument("--work", type=Path, help="keep the trees here (warm for the next run)")
    parser.add_argument("--hand-first", action="store_true", help="run the hand-run before the bot")
    args = parser.parse_args()
    found = lv.sources()
    if found is None:
        raise SystemExit(f"set {lv.ENV_LIBVIRT} and {lv.ENV_KEYCODEMAPDB} (see README, 'libvirt')")
    if args.native:
        os.environ[lv.ENV_NATIVE] = str(args.native.resolve())
    native = lv.native_file()
    work = args.work or Path(tempfile.mkdtemp(prefix="seriesbot-libvirt-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"native file {native}, work {work}, jobs {steps.jobs()}", flush=True)
    if args.hand_first:
        hand = hand_run(*found, work, native)
        bot = bot_run(*found, work)
    else:
        bot = bot_run(*found, work)
        hand = hand_run(*found, work, native)
    print("\npatch  bot wall  hand wall  bot/hand  bot overhead")
    for i, ((b, commands, _), (h, _)) in enumerate(zip(bot, hand, strict=False), start=1):
        print(f"{i:5d}  {b:8.1f}  {h:9.1f}  {b / h:8.3f}  {b - commands:8.1f} s")
    total_b, total_h = sum(b for b, _, _ in bot), sum(h for h, _ in hand)
    print(f"total  {total_b:8.1f}  {total_h:9.1f}  {total_b / total_h:8.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
