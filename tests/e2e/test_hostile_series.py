"""A hostile series against the real bot (separate smtp, web and worker processes, a real Celery
worker) on the embedded default, with the bot's secrets set as in production.

Its `meson.build` runs a probe at configure time (run_command) and as a test(); the probe tries to
read every /proc/*/environ, to find and read the data directory, the database, the web secret and
the config, to write into the data directory, the published repository and another project's
tree, to connect to the 127.0.0.1 services, to leave a process running, to fork without bound
and (patch 2) to write 10 GB. Every attempt prints one `PROBE <attempt>: blocked|LEAKED ...` line;
every one must be blocked, the run must finish saying what the steps hit, no secret may appear in
a log, a page, a stored row or a mail, and the bot must keep serving."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.db.models import OutboundMail, PatchResult, Run
from bot.db.session import session_scope
from tests.helpers import wait_for
from tests.stack import git_send_email, make_stack

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

LEFTOVER = "4242.125"  # `sleep 4242.125`: the process the probe leaves behind, looked for on the host

PROBE = r'''
import os, socket, subprocess, sys, time
mode, data, config, ports = sys.argv[1], sys.argv[2], sys.argv[3], [int(p) for p in sys.argv[4].split(",")]

def say(attempt, leaked, detail=""):
    print(f"PROBE {attempt}: {'LEAKED' if leaked else 'blocked'} {detail}".rstrip(), flush=True)

seen, leaks = 0, []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            env = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        seen += 1
        if b"SERIESBOT_" in env or b"DATABASE_URL" in env:
            leaks.append(pid)
say("environ", bool(leaks), f"read {seen} environ files, bot variables in {leaks}")
say("env-self", any(k.startswith("SERIESBOT") or k in ("DATABASE_URL", "BROKER_URL") for k in os.environ),
    " ".join(sorted(os.environ)))

def read(attempt, path):
    try:
        if os.path.isdir(path):
            found = sorted(os.listdir(path))
            # the path down to the step's own tree and the worker's compiler cache, nothing else
            say(attempt, bool(set(found) - {"work", "ccache"}), f"{path}: {found[:10]}")
        else:
            say(attempt, True, f"{path}: {open(path, 'rb').read(200)!r}")
    except OSError as exc:
        say(attempt, False, f"{path}: {exc.strerror}")

read("data-dir", data)
read("database", os.path.join(data, "seriesbot.db"))
read("web-secret", os.path.join(data, "web-secret"))
read("config", os.path.join(config, "seriesbot.toml"))
read("other-tree", os.path.join(data, "work", "build0", "other", "src", "secret.c"))

def write(attempt, path, evidence):
    # a write that lands in the sandbox's own empty skeleton of the path (an unprivileged user
    # namespace owns it) reaches nothing: it counts only where the real directory is (`evidence`)
    try:
        with open(path, "w") as f:
            f.write("pwned")
        say(attempt, os.path.exists(os.path.join(os.path.dirname(path), evidence)), path)
    except OSError as exc:
        say(attempt, False, f"{path}: {exc.strerror}")

write("write-data-dir", os.path.join(data, "pwned"), "seriesbot.db")
write("write-published", os.path.join(data, "published", "demo.git", "pwned"), "HEAD")
write("write-other-tree", os.path.join(data, "work", "build0", "other", "src", "pwned"), "secret.c")
write("write-mirror", os.path.join(data, "work", "build0", "demo", "mirror.git", "pwned"), "HEAD")

for port in ports:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        say(f"connect-{port}", True)
    except OSError as exc:
        say(f"connect-{port}", False, exc.strerror or str(exc))

subprocess.Popen(["sleep", "LEFTOVER"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("PROBE leftover: started", flush=True)

if mode == "test":
    print("PROBE forkbomb: starting", flush=True)
    children = 0
    for _ in range(100000):
        try:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            children += 1
        except OSError:
            time.sleep(0.01)
    say("forkbomb", True, f"{children} processes")
if mode == "write":
    total = 0
    try:
        for i in range(1280):  # 1280 files of 8 MB: 10 GB, each file under any per-file limit
            with open(os.path.join(sys.argv[5], f"fill-{i}"), "wb") as f:
                for _ in range(8):
                    f.write(b"\0" * (1 << 20))
                    total += 1
            if total % 64 == 0:
                print(f"PROBE write10g: {total} MB so far", flush=True)
        say("write10g", True, f"wrote {total} MB")
    except OSError as exc:
        say("write10g", False, f"stopped at {total} MB: {exc.strerror}")
'''.replace("LEFTOVER", LEFTOVER)


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Mallory", "GIT_AUTHOR_EMAIL": "mallory@example.org",
           "GIT_COMMITTER_NAME": "Mallory", "GIT_COMMITTER_EMAIL": "mallory@example.org", "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _hostile_series(upstream: Path, out: Path, data: Path, config: Path, ports: list[int]) -> list[Path]:
    work = out / "work"
    out.mkdir(parents=True, exist_ok=True)
    _git(out, "clone", "-q", str(upstream), str(work))
    (work / "probe.py").write_text(PROBE)
    args = f"'{data}', '{config}', '{','.join(map(str, ports))}'"
    with open(work / "meson.build", "a") as f:
        f.write(textwrap.dedent(f"""
            probe = meson.current_source_dir() / 'probe.py'
            probe_configure = run_command(python3_prog, probe, 'configure', {args}, check: false)
            message(probe_configure.stdout() + probe_configure.stderr())
            test('probe', python3_prog, args: [probe, 'test', {args}], timeout: 120)
            """))
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-s", "-m", "build: probe the build sandbox\n\nEvery attempt should fail.")
    with open(work / "meson.build", "a") as f:
        f.write(textwrap.dedent(f"""
            probe_write = run_command(python3_prog, probe, 'write', {args}, meson.current_build_dir(), check: false)
            message(probe_write.stdout() + probe_write.stderr())
            """))
    _git(work, "commit", "-q", "-a", "-s", "-m", "build: try to fill the disk\n\nWrites 10 GB at configure time.")
    _git(work, "format-patch", "-q", "--cover-letter", "-o", str(out / "series"), "HEAD~2")
    files = sorted((out / "series").glob("*.patch"))
    cover = files[0].read_text().replace("*** SUBJECT HERE ***", "hostile probe").replace("*** BLURB HERE ***", "x")
    files[0].write_text(cover)
    return files


def _markers(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"PROBE ([\w-]+): (.*)$", text, re.M)}


@pytest.mark.timeout(900)
def test_a_hostile_series_reaches_nothing_and_is_reported(request, tmp_path: Path) -> None:
    secrets = {
        "SERIESBOT_SMTP_PASSWORD": f"smtp-{uuid.uuid4().hex}",
        "SERIESBOT_WEB_SECRET": f"web-{uuid.uuid4().hex}",
        "SERIESBOT_WEB_LOGINS": f"maintainer@demo.seriesbot.test=login-{uuid.uuid4().hex}",
        "SERIESBOT_PATCHWORK_TOKEN_DEMO": f"pw-{uuid.uuid4().hex}",
    }
    file_secret = f"file-{uuid.uuid4().hex}"
    values = [*(v.split("=", 1)[-1] for v in secrets.values()), file_secret]
    stack = make_stack(tmp_path)
    project = stack.base / "config" / "projects" / "demo.toml"  # small caps, so the test stays quick
    project.write_text(project.read_text().replace(
        'test_mode = "every"', 'test_mode = "every"\nmax_write_mb = 64\nmax_processes = 200', 1))
    stack.env.update(secrets)
    data = stack.settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    (data / "web-secret").write_text(file_secret + "\n")
    other = data / "work" / "build0" / "other" / "src"
    other.mkdir(parents=True)
    (other / "secret.c").write_text("/* another project's tree */\n")
    ports = [stack.smtp_port, stack.settings.web.port, stack.relay_port, 6379, 5432]
    with stack.running(request):
        upstream = data / "demo-upstream.git"
        wait_for(lambda: (upstream / "HEAD").exists(), 60, what="the demo upstream")
        files = _hostile_series(upstream, tmp_path / "mallory", data, stack.base / "config", ports)
        git_send_email(files, stack.smtp_port, sender="Mallory <mallory@example.org>")

        def finished() -> Run | None:
            with session_scope(stack.settings.database_url) as session:
                run = session.scalar(select(Run).order_by(Run.id.desc()).limit(1))
                return run if run is not None and run.state not in ("queued", "running") else None

        run = wait_for(finished, 600, interval=1, what=f"the hostile run to finish\n{stack.logs()}")
        with session_scope(stack.settings.database_url) as session:
            results = {r.index: (r.build, r.test, dict(r.details or {}), dict(r.logs or {}))
                       for r in session.scalars(select(PatchResult).where(PatchResult.run_id == run.id))}
            again = session.get(Run, run.id)
            assert {1, 2} <= set(results), f"run {again.state}: {again.error}\n{stack.logs()}"
        logs_dir = stack.settings.logs_dir
        # meson runs the probe where it configures: patch 1's own setup step (the build directory
        # starts empty, upstream is built only when a patch fails), or a reconfigure inside ninja
        assert "setup" in results[1][3], results[1][3]  # its own log, linked from the dashboard
        setup1 = (logs_dir / results[1][3]["setup"]).read_text(errors="replace")
        build1 = setup1 + (logs_dir / results[1][3]["build"]).read_text(errors="replace")
        test1 = (logs_dir / results[1][3]["test"]).read_text(errors="replace")
        build2 = (logs_dir / results[2][3]["build"]).read_text(errors="replace")
        configure = _markers(build1)
        attempts = ["environ", "env-self", "data-dir", "database", "web-secret", "config", "other-tree",
                    "write-data-dir", "write-published", "write-other-tree", "write-mirror",
                    *(f"connect-{p}" for p in ports)]
        for name in attempts:
            assert configure.get(name, "").startswith("blocked"), (name, configure.get(name), build1[-3000:])
        assert "LEAKED" not in build1 + test1 + build2
        # the probe ran as a test too (meson keeps a test's output until it ends), and forked
        # until the process cap stopped the step
        assert results[1][0] in ("ok", "warn") and results[1][1] == "fail"
        assert "process limit (200 processes)" in results[1][2].get("test_note", ""), results[1][2]
        # patch 2 tried to write 10 GB at configure time: stopped near the cap, said in the reply
        assert results[2][0] == "fail" and "wrote over 64 MB" in str(results[2][2]), results[2]
        assert "killed: wrote over 64 MB" in build2, build2[-2000:]
        build_dir = data / "work" / "build0" / "demo" / "build"
        assert sum(f.stat().st_size for f in build_dir.glob("fill-*")) < 64 * 1024 * 1024
        # nothing was written where the step could not see, nothing it started outlived it
        for path in (data / "pwned", data / "published" / "demo.git" / "pwned", other / "pwned"):
            assert not path.exists(), path
        assert subprocess.run(["pgrep", "-f", f"sleep {LEFTOVER}"], capture_output=True).returncode == 1
        # the replies say what the steps hit, and the bot keeps serving
        replies = stack.wait_replies(3, timeout=180)
        bodies = "\n".join(str(m) for m in replies)
        assert "process limit" in bodies and "wrote over 64 MB" in bodies, bodies[-3000:]
        pages = [httpx.get(f"{stack.web}/", timeout=30), httpx.get(f"{stack.web}/series/{run.series_id}", timeout=30),
                 httpx.get(f"{stack.web}/api/series/{run.series_id}", timeout=30), httpx.get(f"{stack.web}/healthz")]
        for rel in (*results[1][3].values(), *results[2][3].values()):
            pages.append(httpx.get(f"{stack.web}/logs/{rel}", timeout=30))
            pages.append(httpx.get(f"{stack.web}/logs/{rel}?raw=1", timeout=30))
        assert all(p.status_code == 200 for p in pages), [(p.url, p.status_code) for p in pages]
        # no secret anywhere: pages, every log file, every stored mail, every process log
        with session_scope(stack.settings.database_url) as session:
            stored = [m.body + m.subject for m in session.scalars(select(OutboundMail))]
        everything = [p.text for p in pages] + stored + [bodies]
        everything += [p.read_text(errors="replace") for p in logs_dir.rglob("*") if p.is_file()]
        everything += [p.read_text(errors="replace") for p in stack.base.glob("*.log")]
        for value in values:
            assert not any(value in text for text in everything), value
