"""The step runner's limits, enforced for real: time, output, processes, memory, network."""

from __future__ import annotations

import socket
import sys
import threading

import pytest

from workers import cgroups
from workers.sandbox import Limits, network_isolation_prefix, run, tail

PY = sys.executable


def test_timeout_kills_the_whole_group(tmp_path):
    # the child starts a grandchild that would outlive it; both must die
    marker = tmp_path / "alive"
    code = f"import subprocess,time; subprocess.Popen(['sleep','30']); open({str(marker)!r},'w').write('x'); time.sleep(30)"
    result = run([PY, "-c", code], cwd=tmp_path, output_path=tmp_path / "out.log", limits=Limits(timeout=1.5))
    assert result.timed_out and result.duration < 10
    assert "timed out" in tail(tmp_path / "out.log")
    import subprocess
    left = subprocess.run(["pgrep", "-f", "sleep 30"], capture_output=True, text=True).stdout.split()
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
