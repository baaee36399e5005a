"""Replies as fast as the builds themselves (issue 14; a benchmark, not a test).

A real stack (`seriesbot smtp`, `web`, a light and a build worker: embedded SQLite and filesystem
broker), series posted with `git send-email`, replies collected on the list server's relay. The
tree is generated, CI-sized: --files C files that all include one common header (200 by default, the
shape of the outside run in the issue), two meson tests. All in one run:

  warm-up   a first series (mirror, configure, cold compiler cache): not measured;
  A         a series whose patch 1 adds a declaration to the common header, upstream unchanged;
  B         upstream then changes the header; a second series, its patch 1 adds a declaration too;
  retest    `seriesbot: retest` of series B, by mail;
  v2        series B again with its middle patch changed;
  (A, B, retest and v2 are repeated --rounds times and the medians printed: the machine is shared.)

Each is timed from the last `250` of `git send-email` to the last reply, and compared with a
hand-run of the same commits (`git checkout`, `ninja`, `meson test` per commit, no ccache) in a
clone whose build directory is first brought to the state the bot's was in (its last built commit).
It prints the ratios the issue sets targets for, and ccache's hit rate per patch:

  A, B: last reply / hand-run                       target <= 1.10
  first reply / hand-run's patch 1 (build + test)   target <= 1.10
  first run of B / retest, first run of B / v2      target >= 3

and, first, what ccache costs on a miss and saves on a hit: the CPU time (user + system, which the
machine's other load moves far less than wall time) of a full build of the tree without ccache, in
depend mode (the default) and in ccache's preprocessor mode, cold and warm.

    .venv/bin/python -m bench.build_latency [--files 200] [--rounds 3] [--keep DIR] [--cache-only]

Real libvirt (SERIESBOT_LIBVIRT_GIT) is not driven by this script: see bench/libvirt_series.py.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import smtplib
import statistics
import subprocess
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from bench.pipeline_speed import generate_tree
from tests.stack import git_send_email, make_stack

ENV = {**os.environ, "GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.org",
       "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.org", "GIT_CONFIG_NOSYSTEM": "1"}
HAND_ENV = {**ENV, "CCACHE_DISABLE": "1"}  # the hand-run compiles without a cache
LIST = "devel@demo.seriesbot.test"


def sh(cwd: Path, *argv: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    return subprocess.run(argv, cwd=cwd, env=env or ENV, check=check, capture_output=True, text=True).stdout


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


class ReplyClock(threading.Thread):
    """When each of the bot's replies reached the list server (polled every 20 ms)."""

    def __init__(self, stack) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.stack, self.arrivals, self.stop = stack, [], threading.Event()

    def run(self) -> None:
        seen = 0
        while not self.stop.is_set():
            received = len(self.stack.relay.received)  # cheap; parse headers only when it grows
            if received != seen:
                seen = received
                n = len(self.stack.replies())
                while len(self.arrivals) < n:
                    self.arrivals.append(time.monotonic())
            time.sleep(0.02)


def commit(work: Path, message: str, edits: dict[str, str]) -> None:
    for name, text in edits.items():
        path = work / name
        path.write_text(path.read_text() + text)
    sh(work, "git", "add", "-A")
    sh(work, "git", "commit", "-q", "-s", "-m", message)


def series(work: Path, tag: str, middle: str = "") -> list[str]:
    """Three patches on origin/main: the header (every file recompiles), one .c file, another."""
    sh(work, "git", "fetch", "-q", "origin")
    sh(work, "git", "checkout", "-q", "-B", tag, "origin/main")
    commit(work, f"common: declare gen_{tag}", {"include/common.h": f"int gen_{tag}(int x);\n"})
    commit(work, f"mod: implement gen_{tag}{middle}",
           {"src/mod007.c": f"int gen_{tag}(int x) {{ return x + 7; }}\n{middle and '/* ' + middle + ' */'}\n"})
    commit(work, f"mod: use gen_{tag}", {"src/mod042.c": f"int use_{tag}(void) {{ return gen_{tag}(1); }}\n"})
    return sh(work, "git", "rev-list", "--reverse", "origin/main..HEAD").split()


def patch_files(work: Path, out: Path, version: int = 1) -> list[Path]:
    shutil.rmtree(out, ignore_errors=True)
    sh(work, "git", "format-patch", "-q", "--cover-letter", "--thread=shallow", f"-v{version}", "-o", str(out),
       "origin/main..HEAD")
    files = sorted(out.glob("*.patch"))
    cover = files[0].read_text().replace("*** SUBJECT HERE ***", f"{work.name}: a small series")
    files[0].write_text(cover.replace("*** BLURB HERE ***", "Three steps."))
    return files


def message_id(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    raise ValueError(f"no Message-ID in {path}")


def newest_run(stack) -> dict:  # type: ignore[no-untyped-def]
    listed = stack.api("/api/series")["series"]
    if not listed:  # the mails are still being assembled
        return {"id": None, "state": "queued"}
    newest = max(listed, key=lambda s: s["id"])
    runs = stack.api(f"/api/series/{newest['id']}")["runs"]
    return runs[0] if runs else {"id": None, "state": "queued"}


def wait_done(stack, clock: ReplyClock, before: int, runs_before: set[int], quiet: float = 3.0) -> dict:  # type: ignore[no-untyped-def]
    """The new run, once it is finished and no reply came for `quiet` seconds (the reply times
    come from the relay, so polling the API seldom costs no precision)."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        run = newest_run(stack)
        if run["id"] not in runs_before and run["state"] not in ("queued", "running") and \
                len(clock.arrivals) > before and time.monotonic() - clock.arrivals[-1] > quiet:
            return stack.api(f"/api/runs/{run['id']}")
        time.sleep(2.0)  # the web process shares the 2 CPUs with the build: poll it rarely
    raise TimeoutError(stack.logs())


def all_runs(stack) -> set[int]:  # type: ignore[no-untyped-def]
    ids = set()
    for s in stack.api("/api/series")["series"]:
        ids.update(r["id"] for r in stack.api(f"/api/series/{s['id']}")["runs"])
    return ids


def post(stack, clock: ReplyClock, send) -> tuple[float, float, dict]:  # type: ignore[no-untyped-def]
    """(last 250 -> first reply, last 250 -> last reply, the run)."""
    before, runs = len(clock.arrivals), all_runs(stack)
    send()
    sent = time.monotonic()
    run = wait_done(stack, clock, before, runs)
    return clock.arrivals[before] - sent, clock.arrivals[-1] - sent, run


class HandRun:
    """A developer's clone and build directory, no compiler cache."""

    def __init__(self, base: Path, upstream: Path) -> None:
        self.tree, self.build = base / "hand", base / "hand-build"
        sh(base, "git", "clone", "-q", str(upstream), str(self.tree))
        sh(self.tree, "meson", "setup", str(self.build), env=HAND_ENV)

    def sync(self, work: Path, sha: str) -> None:
        """The state the bot's build directory was in: `sha` checked out and built (not timed)."""
        sh(self.tree, "git", "fetch", "-q", str(work), "+refs/heads/*:refs/remotes/work/*")
        sh(self.tree, "git", "checkout", "-q", "--detach", sha)
        sh(self.tree, "ninja", "-C", str(self.build), env=HAND_ENV, check=False)

    def run(self, shas: list[str]) -> list[float]:
        times = []
        for sha in shas:
            started = time.monotonic()
            sh(self.tree, "git", "checkout", "-q", "--detach", sha)
            sh(self.tree, "ninja", "-C", str(self.build), env=HAND_ENV, check=False)
            sh(self.tree, "meson", "test", "-C", str(self.build), "--no-rebuild", env=HAND_ENV, check=False)
            times.append(time.monotonic() - started)
        return times


def cpu_seconds(argv: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cache_cost(src: Path, base: Path) -> None:
    """CPU seconds of a full build: no cache; each ccache mode cold (all misses), then warm (hits)."""
    modes = {"no ccache": {"CCACHE_DISABLE": "1"}, "depend mode": {"CCACHE_DEPEND": "1"}, "preprocessor mode": {}}
    plain = 0.0
    for name, extra in modes.items():
        build, cache = base / f"cost-{name.split()[0]}", base / f"cost-cache-{name.split()[0]}"
        env = {**ENV, "CCACHE_DIR": str(cache), "CCACHE_BASEDIR": str(base), "CCACHE_NOHASHDIR": "1", **extra}
        subprocess.run(["meson", "setup", str(build), str(src)], env=env, check=True, capture_output=True)
        cold = cpu_seconds(["ninja", "-C", str(build)], env)
        subprocess.run(["ninja", "-C", str(build), "-t", "clean"], env=env, check=True, capture_output=True)
        warm = cpu_seconds(["ninja", "-C", str(build)], env)
        plain = plain or cold
        print(f"  full build, CPU s: {name:17s} cold {cold:5.1f} ({cold / plain:.2f} x no ccache)"
              + (f", warm {warm:5.1f} ({warm / plain:.2f} x)" if extra != {"CCACHE_DISABLE": "1"} else ""),
              flush=True)
        shutil.rmtree(build)
        shutil.rmtree(cache, ignore_errors=True)


def describe(name: str, run: dict) -> None:
    for r in run["results"]:
        t, c = r["timings"], r.get("ccache") or {}
        rate = f"{c['hit_rate'] * 100:5.1f}%" if c.get("hit_rate") is not None else "   - "
        print(f"  {name} patch {r['index']}: {r['verdict']:5s} setup {t['setup'] or 0:5.1f}  build {t['build'] or 0:5.1f}"
              f"  test {t['test'] or 0:4.1f}  upstream {t['upstream'] or 0:4.1f} s  ccache {rate} "
              f"({c.get('hits', 0)} hits, {c.get('misses', 0)} misses){'  reused' if r['reused_from'] else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="A, B, retest and v2 this many times (medians)")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    parser.add_argument("--cache-only", action="store_true", help="only what ccache costs and saves")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="seriesbot-build-latency-"))
    base.mkdir(parents=True, exist_ok=True)
    src = base / "gen-src"
    generate_tree(src, args.files)
    sh(src, "git", "init", "-q", "--initial-branch=main")
    sh(src, "git", "add", "-A")
    sh(src, "git", "commit", "-q", "-m", "gen: initial")
    print(f"what ccache costs on {args.files} files (load {load()}):", flush=True)
    cache_cost(src, base)
    if args.cache_only:
        return
    stack = make_stack(base / "stack", echo=False)
    upstream = stack.settings.data_dir / "demo-upstream.git"  # demo = true leaves an existing repo alone
    upstream.parent.mkdir(parents=True, exist_ok=True)
    sh(base, "git", "clone", "-q", "--bare", str(src), str(upstream))
    work = base / "contrib"
    sh(base, "git", "clone", "-q", str(upstream), str(work))
    hand = HandRun(base, upstream)
    stack.start_all()
    clock = ReplyClock(stack)
    clock.start()
    try:
        print(f"{args.files} C files including one header; jobs {os.cpu_count()}; load {load()}", flush=True)
        last_built = series(work, "warm")[-1]  # where the bot's build directory is (the same tree)
        files = patch_files(work, base / "p-warm")
        _, warm_last, run = post(stack, clock, lambda: git_send_email(files, stack.smtp_port, to=LIST))
        print(f"warm-up: last reply {warm_last:.1f} s after the last 250", flush=True)
        describe("warm-up", run)

        rounds = []
        for k in range(1, args.rounds + 1):
            got: dict[str, dict] = {}
            for name, move_upstream in (("A", False), ("B", True)):
                if move_upstream:  # upstream changes the header: every file recompiles on the next build
                    sh(work, "git", "checkout", "-q", "-B", "up", "origin/main")
                    commit(work, f"common: a new constant {k}", {"include/common.h": f"#define GEN_MOVED_{k} 1\n"})
                    sh(work, "git", "push", "-q", "origin", "HEAD:main")
                tag = f"{name.lower()}{k}"
                shas = series(work, tag)
                hand.sync(work, last_built)
                files = patch_files(work, base / f"p-{tag}")
                first, last, run = post(stack, clock, lambda files=files: git_send_email(files, stack.smtp_port,
                                                                                         to=LIST))
                hand_times = hand.run(shas)
                last_built = shas[-1]
                own = [sum((r["timings"][k] or 0) for k in ("setup", "build", "test")) for r in run["results"]]
                got[name] = {"first": first, "last": last, "hand": hand_times, "cover": message_id(files[0]),
                             "own": own}
                print(f"round {k} {name}: first reply {first:.1f} s, last reply {last:.1f} s; hand-run "
                      f"{sum(hand_times):.1f} s ({', '.join(f'{t:.1f}' for t in hand_times)}); load {load()}",
                      flush=True)
                describe(f"{name}{k}", run)

            def retest(cover: str = got["B"]["cover"], k: int = k) -> None:
                mail = EmailMessage()
                mail["From"], mail["To"] = "Ada Lovelace <ada@example.org>", LIST
                mail["Subject"], mail["Message-ID"] = "Re: [PATCH 0/3] a small series", f"<bench-retest-{k}@example.org>"
                mail["In-Reply-To"] = mail["References"] = cover
                mail.set_content("seriesbot: retest\n")
                with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
                    smtp.send_message(mail)

            _, got["retest"], run = post(stack, clock, retest)
            print(f"round {k} retest of B: last reply {got['retest']:.1f} s", flush=True)
            describe(f"retest{k}", run)
            last_built = series(work, f"b{k}", middle="v2: changed")[-1]
            files = patch_files(work, base / f"p-v2-{k}", version=2)
            _, got["v2"], run = post(stack, clock, lambda files=files: git_send_email(files, stack.smtp_port, to=LIST))
            print(f"round {k} v2 of B (patch 2 changed): last reply {got['v2']:.1f} s", flush=True)
            describe(f"v2-{k}", run)
            rounds.append(got)

        def med(values: list[float]) -> str:
            return f"{statistics.median(values):.2f}  (rounds: {', '.join(f'{v:.2f}' for v in values)})"

        print(f"\nratios over {len(rounds)} rounds, median (targets in brackets)")
        for name, label in (("A", "upstream unchanged"), ("B", "upstream moved by a header change")):
            print(f"  {name} ({label}): last reply / hand-run = "
                  f"{med([r[name]['last'] / sum(r[name]['hand']) for r in rounds])}  [<= 1.10]")
            print(f"  {name}: first reply / hand-run's patch 1 = "
                  f"{med([r[name]['first'] / r[name]['hand'][0] for r in rounds])}  [<= 1.10]")
        for name in ("A", "B"):  # the same run's own steps: the bot's overhead, whatever the load
            print(f"  {name}: first reply / the bot's own patch-1 setup + build + test = "
                  f"{med([r[name]['first'] / r[name]['own'][0] for r in rounds])}")
            print(f"  {name}: last reply / the bot's own setup + build + test of all patches = "
                  f"{med([r[name]['last'] / sum(r[name]['own']) for r in rounds])}")
        print(f"  first run of B / its retest = {med([r['B']['last'] / r['retest'] for r in rounds])}  [>= 3]")
        print(f"  first run of B / its v2 (middle patch changed) = "
              f"{med([r['B']['last'] / r['v2'] for r in rounds])}  [>= 3]")
        print(f"  load average at the end: {load()} (2 CPUs shared with other work: ratios move with it)")
    finally:
        clock.stop.set()
        stack.stop_all()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
