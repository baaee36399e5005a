"""The step runner's limits, enforced for real: time, output, processes, memory, network."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from bot import redact
from workers import bwrap, cgroups, steps
from workers.sandbox import Limits, SandboxUnavailable, network_isolation_prefix, run, tail

PY = sys.executable


def test_timeout_kills_the_whole_group(tmp_path):
    # the child starts a grandchild that would outlive it; both must die
    marker = tmp_path / "alive"
    # a duration no other process on the machine sleeps for, so the check below finds only ours
    nap = f"30.{os.getpid()}{abs(hash(str(tmp_path))) % 100000}"
    code = f"import subprocess,time; subprocess.Popen(['sleep',{nap!r}]); open({str(marker)!r},'w').write('x'); time.sleep(30)"
    result = run([PY, "-c", code], cwd=tmp_path, output_path=tmp_path / "out.log", limits=Limits(timeout=1.5))
    assert result.timed_out and result.duration < 10
    assert "timed out" in tail(tmp_path / "out.log")
    import subprocess
    left = subprocess.run(["pgrep", "-f", f"sleep {nap}"], capture_output=True, text=True).stdout.split()
    assert not left


def test_output_cap(tmp_path):
    result = run([PY, "-c", "import sys\nwhile True: sys.stdout.write('x'*65536)"], cwd=tmp_path,
                 output_path=tmp_path / "out.log", limits=Limits(timeout=30, output_cap=1_000_000))
    assert result.output_capped and not result.ok
    assert (tmp_path / "out.log").stat().st_size < 50_000_000


def test_memory_limit(tmp_path):
    result = run([PY, "-c", "x = bytearray(600 * 1024 * 1024); print('allocated')"], cwd=tmp_path,
                 output_path=tmp_path / "out.log", limits=Limits(timeout=60, memory_mb=256))
    assert result.returncode != 0
    assert "allocated" not in tail(tmp_path / "out.log")


@pytest.mark.skipif(not cgroups.available(), reason="no writable pids cgroup on this host")
def test_process_cap_holds_even_for_root(tmp_path):
    code = ("import os, time\nkids = 0\ntry:\n    for _ in range(200):\n        if os.fork() == 0:\n"
            "            time.sleep(5); os._exit(0)\n        kids += 1\nexcept OSError:\n    print('fork refused at', kids)\n")
    run([PY, "-c", code], cwd=tmp_path, output_path=tmp_path / "out.log",
        limits=Limits(timeout=30, max_processes=20))
    assert "fork refused at" in tail(tmp_path / "out.log")


@pytest.mark.skipif(network_isolation_prefix() is None, reason="this host cannot make a network namespace")
def test_no_network(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')"
    isolated = run([PY, "-c", code], cwd=tmp_path, output_path=tmp_path / "a.log", limits=Limits(network=False))
    allowed = run([PY, "-c", code], cwd=tmp_path, output_path=tmp_path / "b.log", limits=Limits(network=True))
    server.close()
    assert allowed.ok and "connected" in tail(tmp_path / "b.log")
    assert not isolated.ok and "connected" not in tail(tmp_path / "a.log")


def test_argv_is_never_a_shell(tmp_path):
    result = run(["echo", "$(touch pwned); rm -rf /"], cwd=tmp_path, output_path=tmp_path / "o.log", limits=Limits())
    assert result.ok and not (tmp_path / "pwned").exists()
    assert "$(touch pwned)" in tail(tmp_path / "o.log")


# --- the bubblewrap sandbox (issue 12) -------------------------------------------------------------

needs_bwrap = pytest.mark.skipif(not bwrap.support().available, reason="no bubblewrap sandbox on this host")


def _tree(tmp_path):
    data = tmp_path / "data"
    src, build, mirror = data / "work" / "w" / "p" / "src", data / "work" / "w" / "p" / "build", data / "mirror.git"
    for d in (src, build, mirror):
        d.mkdir(parents=True)
    (data / "seriesbot.db").write_text("the database")
    (mirror / "HEAD").write_text("ref: refs/heads/main\n")
    (src / ".git").write_text(f"gitdir: {mirror}\n")
    return data, src, build, mirror


@needs_bwrap
def test_a_step_sees_only_its_workspace(tmp_path):
    data, src, build, mirror = _tree(tmp_path)
    host_file = Path("/tmp") / f"seriesbot-host-{os.getpid()}"
    host_file.write_text("host")
    code = textwrap.dedent(f"""
        import os
        def attempt(what, fn):
            try:
                fn(); print(what, "ALLOWED")
            except OSError as exc:
                print(what, "refused", exc.errno)
        attempt("read-db", lambda: open({str(data / 'seriesbot.db')!r}).read())
        attempt("write-mirror", lambda: open({str(mirror / 'x')!r}, "w"))
        attempt("write-dotgit", lambda: open({str(src / '.git')!r}, "w"))
        try:  # at most the path down to the worker's Python (bound read-only), never its files
            print("home", [e for e in os.listdir({str(Path.home())!r}) if e != ".pyenv"])
        except OSError:
            print("home []")
        open({str(build / 'out.o')!r}, "w").write("built")
        print("mirror", open({str(mirror / 'HEAD')!r}).read().strip())
        print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        print("uid", os.getuid(), "tmp", os.listdir("/tmp"))
        for d in ({str(data)!r}, {str(src.parent)!r}):  # what it can write there is its own, not the host's
            try:
                open(os.path.join(d, "x"), "w").write("x")
            except OSError:
                pass
    """)
    result = run([PY, "-c", code], cwd=src, output_path=tmp_path / "o.log", limits=Limits(network=False),
                 writable=(src, build), readonly=(mirror,))
    out = tail(tmp_path / "o.log")
    assert result.ok, out
    assert "ALLOWED" not in out, out
    assert "mirror ref: refs/heads/main" in out and (build / "out.o").read_text() == "built"
    assert sorted(p.name for p in data.iterdir()) == ["mirror.git", "seriesbot.db", "work"]
    assert "pids [1, 2]" in out  # bwrap's reaper and the step: nothing of the host
    assert "home []" in out
    assert host_file.name not in out  # a private /tmp, though the workspace lives under the host's /tmp
    if os.geteuid() == 0:
        assert f"uid {bwrap.identity().uid}" in out and bwrap.identity().uid != 0
        assert (build / "out.o").stat().st_uid == bwrap.identity().uid
    shutil.rmtree(build)  # the worker can always clean what the step wrote
    host_file.unlink()


@needs_bwrap
def test_a_checkout_stays_usable_by_the_worker_and_the_step(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q", str(src)], check=True, env=env)
    (src / "a.c").write_text("int a;\n")
    subprocess.run(["git", "-C", str(src), "add", "a.c"], check=True, env=env)
    subprocess.run(["git", "-C", str(src), "commit", "-qm", "a"], check=True, env=env)
    ws = steps.Workspace(src, tmp_path / "build")
    result = run(["sh", "-c", "git ls-files && echo new > sub.c && mkdir -p d && echo x > d/f && echo x > .git/config"],
                 cwd=src, output_path=tmp_path / "o.log", limits=Limits(), env=steps._env(ws), writable=(src,))
    out = tail(tmp_path / "o.log")
    assert "a.c" in out and (src / "sub.c").exists() and (src / "d" / "f").exists(), out
    assert result.returncode != 0  # .git is read-only in the step
    status = subprocess.run(["git", "-C", str(src), "status", "--porcelain"], capture_output=True, text=True, env=env)
    assert status.returncode == 0 and "sub.c" in status.stdout, status.stderr  # no "dubious ownership"
    subprocess.run(["git", "-C", str(src), "clean", "-ffdxq"], check=True, env=env)
    assert not (src / "sub.c").exists()


@needs_bwrap
def test_nothing_a_step_starts_outlives_it(tmp_path):
    code = "import subprocess; subprocess.Popen(['sleep', '777.25'], start_new_session=True); print('left')"
    result = run([PY, "-c", code], cwd=tmp_path, output_path=tmp_path / "o.log", limits=Limits())
    assert result.ok and "left" in tail(tmp_path / "o.log")
    assert subprocess.run(["pgrep", "-f", "sleep 777.25"], capture_output=True).returncode == 1


def test_the_step_environment_is_built_from_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("SERIESBOT_SMTP_PASSWORD", "hunter2-hunter2")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@127.0.0.1/x")
    env = steps._env(steps.Workspace(tmp_path, tmp_path / "b", env=(("CCACHE_DIR", "/c"),)))
    assert not any(k.startswith("SERIESBOT") or k in ("DATABASE_URL", "BROKER_URL") for k in env)
    assert env["CCACHE_DIR"] == "/c" and env["HOME"] == "/tmp"
    result = run(["env"], cwd=tmp_path, output_path=tmp_path / "o.log", limits=Limits(), env=env)
    assert result.ok and "hunter2" not in tail(tmp_path / "o.log")


@needs_bwrap
def test_writing_over_the_cap_is_stopped_and_said(tmp_path):
    many = "import os\nfor i in range(200):\n    open(f'f{i}', 'wb').write(b'x' * (1 << 20))\nprint('wrote all')"
    result = run([PY, "-c", many], cwd=tmp_path, output_path=tmp_path / "o.log", limits=Limits(max_write_mb=20))
    assert result.killed_reason == "wrote over 20 MB" and not result.ok
    assert "wrote all" not in tail(tmp_path / "o.log")
    assert sum(p.stat().st_size for p in tmp_path.glob("f*")) < 20 * 1024 * 1024  # the big files are gone
    one = run(["sh", "-c", "head -c 100000000 /dev/zero > big; echo rc=$?"], cwd=tmp_path,
              output_path=tmp_path / "p.log", limits=Limits(max_write_mb=20))
    assert one.killed_reason and "wrote over 20 MB" in one.killed_reason
    assert not (tmp_path / "big").exists() or (tmp_path / "big").stat().st_size <= 21 * 1024 * 1024
    tmp = run(["sh", "-c", "head -c 30000000 /dev/zero > /tmp/big; echo rc=$?"], cwd=tmp_path,
              output_path=tmp_path / "q.log", limits=Limits(max_write_mb=20))
    assert "No space left" in tail(tmp_path / "q.log") or "File size limit" in tail(tmp_path / "q.log")
    assert tmp.returncode is not None


@needs_bwrap
def test_a_fork_bomb_is_stopped_and_named(tmp_path):
    bomb = ("import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n")
    result = run([PY, "-c", bomb], cwd=tmp_path, output_path=tmp_path / "o.log",
                 limits=Limits(timeout=120, max_processes=64))
    assert result.killed_reason == "hit the process limit (64 processes)", tail(tmp_path / "o.log")
    assert result.duration < 60


def test_a_project_that_requires_the_sandbox_refuses_without_it(tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap, "support", lambda: bwrap.Support(False, "none", reason="bwrap is not installed"))
    with pytest.raises(SandboxUnavailable, match="bwrap is not installed"):
        run(["true"], cwd=tmp_path, output_path=tmp_path / "o.log", limits=Limits(require_sandbox=True))
    assert not (tmp_path / "o.log").exists()
    assert run(["true"], cwd=tmp_path, output_path=tmp_path / "p.log", limits=Limits()).ok  # opted out: runs


def test_the_bots_secrets_are_redacted_from_step_logs(tmp_path, monkeypatch):
    monkeypatch.setattr(redact, "_current", redact.Redactor(["very-secret-relay-password"]))
    monkeypatch.setattr(redact, "_settings", None)
    run(["sh", "-c", "for i in 1 2 3; do printf 'x%.0s' $(seq 1 40000); echo very-secret-relay-password; done"],
        cwd=tmp_path, output_path=tmp_path / "o.log", limits=Limits())
    text = (tmp_path / "o.log").read_text()
    assert "very-secret-relay-password" not in text and text.count(redact.REDACTED) == 3


def test_a_testlog_that_points_outside_the_build_directory_is_not_read(tmp_path):
    secret = tmp_path / "web-secret"
    secret.write_text('{"name": "leak", "result": "FAIL", "stdout": "the secret"}\n')
    build = tmp_path / "build"
    (build / "meson-logs").mkdir(parents=True)
    (build / "meson-logs" / "testlog.json").symlink_to(secret)
    assert steps.read_testlog(build) == []
