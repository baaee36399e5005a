"""The containers, for real (opt-in: `.venv/bin/pytest -m docker tests/docker`).

Builds a Debian base image locally (docker/make-base-image.sh, when missing), then both images on it
with `docker build --network host`, and runs smtp, web, worker-light and worker-build containers with
`docker run --network host` against this machine's PostgreSQL (a fresh database) and Redis (a fresh
db number) on 127.0.0.1, with an aiosmtpd list server on a free loopback port as the relay. The
sample series goes in with git send-email; every patch and the cover letter must get their reply.
Containers talk only to 127.0.0.1 (and, while building, to the package registries).

SERIESBOT_DOCKER_BASE=python:3.11-slim-bookworm builds on the official image instead (a registry
is needed for that). The timings are printed and written to test-artifacts/docker-timings.json, the containers' logs
to test-artifacts/docker-stack.log."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from bot.demo.listserver import start_list_server
from bot.demo.upstream import HERE as DEMO_DIR
from bot.demo.upstream import series_files
from tests.helpers import free_port, wait_for, wait_port
from tests.stack import drop_postgres, fresh_postgres_url, git_send_email

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("SERIESBOT_DOCKER_BASE", "seriesbot-base:bookworm")
BOT_IMAGE = "seriesbot-bot:test"
WORKER_IMAGE = "seriesbot-worker:test"
LIST_ADDRESS = "devel@demo.seriesbot.test"
LIST_ID = "devel.demo.seriesbot.test"
EXPECTED = json.loads((DEMO_DIR / "expected.json").read_text())


def _run(argv: list[str], timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def _why_not_docker() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI (apt-get install docker.io, then start dockerd)"
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if done.returncode != 0:
        return f"`docker info` failed (is dockerd running?): {(done.stderr or done.stdout).strip()[-300:]}"
    return None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _report(request: pytest.FixtureRequest, line: str) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="module")
def timings() -> dict[str, float | str]:
    return {}


@pytest.fixture(scope="module")
def images(request: pytest.FixtureRequest, timings: dict[str, float | str]) -> tuple[str, str]:
    """Both images on the base image (made here when missing), by `docker build --network host`."""
    if "docker" not in (request.config.getoption("markexpr") or "") or \
            "not docker" in (request.config.getoption("markexpr") or ""):
        pytest.skip("opt-in: builds images and runs containers; run with `.venv/bin/pytest -m docker tests/docker`")
    reason = _why_not_docker()
    if reason:
        pytest.skip(reason)
    if _run(["docker", "image", "inspect", BASE_IMAGE], check=False).returncode != 0:
        if BASE_IMAGE.startswith("seriesbot-base"):
            if os.geteuid() != 0 or shutil.which("debootstrap") is None:
                pytest.skip(f"base image {BASE_IMAGE} missing; making it needs root and debootstrap: "
                            f"run docker/make-base-image.sh {BASE_IMAGE} as root")
            started = time.monotonic()
            _run(["sh", "docker/make-base-image.sh", BASE_IMAGE], timeout=900)
            timings["base image (debootstrap + import)"] = round(time.monotonic() - started, 1)
        else:
            started = time.monotonic()
            _run(["docker", "pull", BASE_IMAGE], timeout=900)
            timings[f"pull {BASE_IMAGE}"] = round(time.monotonic() - started, 1)
    else:
        timings["base image"] = f"{BASE_IMAGE} present"
    for image, dockerfile in ((BOT_IMAGE, "docker/Dockerfile.bot"), (WORKER_IMAGE, "docker/Dockerfile.worker")):
        started = time.monotonic()
        _run(["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
              "-f", dockerfile, "-t", image, "."], timeout=1200)
        timings[f"build {image}"] = round(time.monotonic() - started, 1)
    return BOT_IMAGE, WORKER_IMAGE


@pytest.fixture
def services() -> tuple[str, str, str]:
    """A fresh PostgreSQL database and an empty Redis db number, both on 127.0.0.1."""
    if not _port_open(5432) or not _port_open(6379):
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (`make services`)")
    import redis

    db = next(n for n in (1 + (uuid.uuid4().int + i) % 15 for i in range(15))
              if redis.Redis.from_url(f"redis://127.0.0.1:6379/{n}").dbsize() == 0)
    broker_url = f"redis://127.0.0.1:6379/{db}"
    database_url, pg_name = fresh_postgres_url()
    try:
        yield database_url, broker_url, pg_name
    finally:
        drop_postgres(pg_name)
        redis.Redis.from_url(broker_url).flushdb()


def _write_config(base: Path, smtp_port: int, web_port: int, relay_port: int) -> Path:
    config = base / "config"
    (config / "projects").mkdir(parents=True)
    (config / "seriesbot.toml").write_text(f"""
data_dir = "/var/lib/seriesbot"
bot_name = "seriesbot"
bot_address = "seriesbot@seriesbot.test"
public_url = "http://127.0.0.1:{web_port}"

[smtp_in]
host = "127.0.0.1"
port = {smtp_port}

[smtp_out]
host = "127.0.0.1"
port = 1
retry_base_seconds = 1
retry_max_seconds = 5

[web]
host = "127.0.0.1"
port = {web_port}

[worker]
reconcile_seconds = 2
""")
    shutil.copy(ROOT / "config" / "projects" / "demo.toml", config / "projects" / "demo.toml")
    for path in [config, config / "projects", *config.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # read by the containers' non-root user
    return config


def _with_message_ids(src: list[Path], dest: Path, tag: str) -> list[Path]:
    """Copies of the series with known Message-IDs (shallow threading under the cover letter)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, path in enumerate(src):
        head, sep, rest = path.read_text().partition("\nSubject:")
        extra = f"\nMessage-ID: <{tag}-{i}@example.org>"
        if i:
            extra += f"\nIn-Reply-To: <{tag}-0@example.org>\nReferences: <{tag}-0@example.org>"
        (dest / path.name).write_text(head + extra + sep + rest)
        out.append(dest / path.name)
    return out


def test_containers_answer_a_series_on_the_list(request: pytest.FixtureRequest, images: tuple[str, str],
                                                services: tuple[str, str, str], timings: dict, tmp_path: Path):
    bot_image, worker_image = images
    database_url, broker_url, _ = services
    tag = f"sbtest-{uuid.uuid4().hex[:8]}"
    smtp_port, web_port, relay_port = free_port(), free_port(), free_port()
    config = _write_config(tmp_path, smtp_port, web_port, relay_port)
    relay, state = start_list_server("127.0.0.1", relay_port, mbox_path=tmp_path / "list.mbox",
                                     list_address=LIST_ADDRESS, list_id=LIST_ID, forward_to=("127.0.0.1", smtp_port))
    volume = f"{tag}-data"
    containers: list[str] = []
    peers: set[str] = set()
    samples: list[int] = []
    extra_logs: list[str] = []
    stop = threading.Event()
    _run(["docker", "volume", "create", "--label", "seriesbot-test=1", volume])
    common = ["--network", "host", "--label", "seriesbot-test=1", "--init",  # as in docker/compose.yaml
              "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
              "-v", f"{volume}:/var/lib/seriesbot", "-v", f"{config}:/etc/seriesbot:ro",
              "-e", f"DATABASE_URL={database_url}", "-e", f"BROKER_URL={broker_url}",
              "-e", f"SERIESBOT_SMTP_RELAY=127.0.0.1:{relay_port}",  # overrides the file's port 1
              "-e", f"SERIESBOT_WEB_SECRET={uuid.uuid4().hex}",
              "--health-interval", "5s", "--health-start-period", "5s", "--health-retries", "6"]
    try:
        started = time.monotonic()
        for role, image, suffix in (("smtp", bot_image, ""), ("web", bot_image, ""), ("worker-light", bot_image, ""),
                                    ("worker-build", worker_image, "-1"), ("worker-build", worker_image, "-2")):
            name = f"{tag}-{role}{suffix}"
            # with --network host a container has the host's name unless given one, and a worker's
            # name (its leases, its build directories) defaults to the host name
            # the build sandbox needs what docker/compose.yaml gives the worker service
            sandbox = ["--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined"] \
                if role == "worker-build" else []
            _run(["docker", "run", "-d", "--name", name, "--hostname", name, *common, *sandbox, image, role])
            containers.append(name)
        wait_port(smtp_port, 90)
        wait_port(web_port, 90)
        timings["containers up (smtp and web ports open)"] = round(time.monotonic() - started, 1)

        # watch whom the containers talk to, every second until the end
        def watch() -> None:
            while not stop.wait(1.0):
                found = _remote_peers(containers)
                if found is None:
                    return
                peers.update(found)
                samples.append(len(found))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        files = _with_message_ids(series_files(), tmp_path / "series", tag)
        sent = time.monotonic()
        git_send_email(files, smtp_port, to=LIST_ADDRESS, cwd=tmp_path)

        def replies() -> list:
            with state.lock:
                return [m for m in state.received if m.get("X-Seriesbot")]

        try:
            wait_for(lambda: len(replies()) >= len(files), 600, interval=0.5, what=f"{len(files)} replies")
        except AssertionError:
            raise AssertionError("replies missing\n" + _logs(containers)) from None
        timings["send-email to last reply"] = round(time.monotonic() - sent, 1)
        timings["containers started to last reply"] = round(time.monotonic() - started, 1)

        # one reply per patch and one to the cover letter, each threaded under the mail it answers
        got = replies()
        sent_subjects = {f"{tag}-{i}@example.org": _subject(path) for i, path in enumerate(files)}
        by_reply_to = {m["In-Reply-To"].strip().strip("<>"): m for m in got}
        assert len(got) == len(files) and set(by_reply_to) == set(sent_subjects), \
            [(m["In-Reply-To"], m["Subject"]) for m in got]
        for msgid, subject in sent_subjects.items():
            reply = by_reply_to[msgid]
            assert " ".join(reply["Subject"].split()) == f"Re: {subject}"
            assert f"{tag}-0@example.org" in reply["References"]
            assert reply["Auto-Submitted"] == "auto-generated"

        # the dashboard container answers, and shows the run's verdicts (the demo's known results)
        api = f"http://127.0.0.1:{web_port}/api"
        series = httpx.get(f"{api}/series", timeout=10).json()["series"]
        assert len(series) == 1
        detail = httpx.get(f"{api}/series/{series[0]['id']}", timeout=10).json()
        run = detail["runs"][0]
        assert run["state"] == "done"
        results = {r["index"]: r for r in run["results"]}
        for expected in EXPECTED["patches"]:
            result = results[expected["index"]]
            assert (result["apply"], result["build"]) == (expected["apply"], expected["build"])
            assert result["test"] == expected.get("test", "ok" if expected["build"] == "ok" else "skip")

        # two build workers (as `--scale worker=2`) claimed distinct stable names in the shared cache
        names = sorted(line.split()[2].rstrip(":") for c in containers[3:]
                       for line in _run(["docker", "logs", c]).stdout.splitlines()
                       if line.startswith("seriesbot worker "))
        assert names == ["build-1", "build-2"], names

        # the one-off status role reads the same database and broker
        status = _run(["docker", "run", "--rm", *common, bot_image, "status"], timeout=120)
        assert status.stdout.strip(), status
        extra_logs.append(f"===== status\n{status.stdout}{status.stderr}")

        # the images' HEALTHCHECK (docker/healthcheck.py) passes in every role
        def health() -> dict[str, str]:
            return {c: _run(["docker", "inspect", "-f", "{{.State.Health.Status}}", c]).stdout.strip()
                    for c in containers}

        wait_for(lambda: set(health().values()) == {"healthy"}, 60, interval=1, what=f"healthy containers {health()}")
        stop.set()
        watcher.join()
        # the stack talked to nothing but loopback (Redis, PostgreSQL, the relay, each other)
        timings["loopback-only check"] = (f"{len(samples)} samples, peer addresses "
                                          f"{sorted({p.rpartition(':')[0] for p in peers})}")
        if samples:
            assert peers and all(p.startswith(("127.0.0.1:", "::1:")) for p in peers), sorted(peers)
    finally:
        timings_line = ", ".join(f"{k}: {v}" + (" s" if isinstance(v, float) else "") for k, v in timings.items())
        _report(request, f"\ndocker stack timings: {timings_line}")
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        (artifacts / "docker-timings.json").write_text(json.dumps(timings, indent=2) + "\n")
        (artifacts / "docker-stack.log").write_text("\n".join([_logs(containers), *extra_logs]))
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(_logs(containers))
        stop.set()
        for name in containers:
            _run(["docker", "rm", "-f", "-v", name], check=False)
        _run(["docker", "volume", "rm", "-f", volume], check=False)
        relay.stop()


def _subject(path: Path) -> str:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    subject = lines[start][len("Subject:"):]
    for line in lines[start + 1:]:
        if not line.startswith((" ", "\t")):
            break
        subject += line
    return " ".join(subject.split())


def _decode(address: str) -> str:
    host, port = address.split(":")
    if len(host) == 8:
        ip = socket.inet_ntop(socket.AF_INET, bytes.fromhex(host)[::-1])
    else:
        raw = b"".join(bytes.fromhex(host[i:i + 8])[::-1] for i in range(0, 32, 8))
        ip = socket.inet_ntop(socket.AF_INET6, raw).removeprefix("::ffff:")
    return f"{ip}:{int(port, 16)}"


def _remote_peers(containers: list[str]) -> set[str] | None:
    """Remote ends of the containers' TCP and UDP sockets, found from the host: the containers' process
    ids (docker top), their socket inodes (/proc/PID/fd), and the host's socket tables (the containers
    share its network namespace). None when the processes' descriptors cannot be read (not root)."""
    inodes: set[str] = set()
    readable = False
    for name in containers:
        done = _run(["docker", "top", name, "-eo", "pid"], check=False)
        for pid in done.stdout.split()[1:]:
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            readable = True
            for fd in fds:
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    if not readable:
        return None
    peers: set[str] = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes and fields[3] != "0A":  # 0A: listening
                peer = _decode(fields[2])
                if peer.rpartition(":")[0] not in ("0.0.0.0", "::"):  # unconnected UDP
                    peers.add(peer)
    return peers


def _logs(containers: list[str]) -> str:
    out = []
    for name in containers:
        done = _run(["docker", "logs", "--tail", "150", name], check=False)
        out.append(f"===== {name}\n{done.stdout}{done.stderr}")
    return "\n".join(out)
