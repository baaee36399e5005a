"""A real seriesbot on loopback for end-to-end tests: separate `seriesbot smtp`, `web` and `worker`
processes (a real Celery worker), a list server (aiosmtpd) as the outbound relay that echoes list
mail back to the bot, and either the embedded default or Redis + PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.demo.listserver import ListServerState, start_list_server
from bot.settings import Settings, load_settings
from tests.helpers import free_port, wait_for, wait_port

ROOT = Path(__file__).resolve().parent.parent
DEMO_PROJECT = (ROOT / "config" / "projects" / "demo.toml").read_text()


def write_config(base: Path, *, smtp_port: int, web_port: int, relay_port: int, project_overrides: str = "",
                 extra_projects: dict[str, str] | None = None, worker_name: str = "test-worker",
                 lease_seconds: float = 120, build_command: list[str] | None = None) -> Path:
    config = base / "config"
    (config / "projects").mkdir(parents=True, exist_ok=True)
    (config / "seriesbot.toml").write_text(f"""
data_dir = "{base / 'data'}"
bot_name = "seriesbot"
bot_address = "seriesbot@seriesbot.test"
public_url = "http://127.0.0.1:{web_port}"

[smtp_in]
host = "127.0.0.1"
port = {smtp_port}

[smtp_out]
host = "127.0.0.1"
port = {relay_port}
retry_base_seconds = 1
retry_max_seconds = 5

[web]
host = "127.0.0.1"
port = {web_port}

[worker]
name = "{worker_name}"
reconcile_seconds = 2
lease_seconds = {lease_seconds}
""")
    demo = DEMO_PROJECT
    if build_command:
        import json

        demo = demo.replace('build = ["ninja", "-C", "{build}"]', f"build = {json.dumps(build_command)}")
    if project_overrides:
        demo = demo + "\n" + project_overrides
    (config / "projects" / "demo.toml").write_text(demo)
    for name, text in (extra_projects or {}).items():
        (config / "projects" / f"{name}.toml").write_text(text)
    return config / "seriesbot.toml"


@dataclass
class Stack:
    base: Path
    env: dict[str, str]
    settings: Settings
    relay: ListServerState
    relay_controller: Any
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def smtp_port(self) -> int:
        return self.settings.smtp_in.port

    @property
    def relay_port(self) -> int:
        """The list server: mail sent here to the list address reaches the bot with a List-Id."""
        return self.settings.smtp_out.port

    @property
    def web(self) -> str:
        return self.settings.public_url

    def start(self, name: str, *args: str, prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.base / f"{name}.log", "ab")
        proc = subprocess.Popen([*(prefix or []), sys.executable, "-m", "bot.cli", *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        self.processes[name] = proc
        return proc

    def start_all(self, workers: int = 1) -> None:
        self.start("smtp", "smtp")
        self.start("web", "web")
        self.start("light", "worker", "--queues", "light", "--pool", "threads", "--concurrency", "4")
        for i in range(workers):
            self.start(f"build{i}", "worker", "--queues", "build", "--pool", "solo", "--concurrency", "1",
                       "--no-reconcile", "--name", f"build{i}")
        wait_port(self.smtp_port, 60)
        wait_port(self.settings.web.port, 60)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self.relay_controller.stop()

    @contextmanager
    def running(self, request: Any, workers: int = 1) -> Iterator[Stack]:
        """Start every process; on the way out print the logs if the test failed, then stop all."""
        try:
            self.start_all(workers=workers)
            yield self
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(self.logs())
        finally:
            self.stop_all()

    def logs(self) -> str:
        out = []
        for path in sorted(self.base.glob("*.log")):
            out.append(f"===== {path.name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(out)

    def api(self, path: str) -> Any:
        response = httpx.get(f"{self.web}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def replies(self) -> list:
        """The bot's mails the list server received (not what others posted to it)."""
        with self.relay.lock:
            return [m for m in self.relay.received if m.get("X-Seriesbot")]

    def wait_replies(self, count: int, timeout: float = 180) -> list:
        wait_for(lambda: len(self.replies()) >= count, timeout, what=f"{count} replies on the relay\n{self.logs()}")
        return self.replies()


def make_stack(base: Path, *, database_url: str | None = None, broker_url: str | None = None,
               project_overrides: str = "", echo: bool = True, worker_name: str = "test-worker",
               lease_seconds: float = 120, build_command: list[str] | None = None) -> Stack:
    smtp_port, web_port, relay_port = free_port(), free_port(), free_port()
    config = write_config(base, smtp_port=smtp_port, web_port=web_port, relay_port=relay_port,
                          project_overrides=project_overrides, worker_name=worker_name, lease_seconds=lease_seconds,
                          build_command=build_command)
    env = dict(os.environ)
    env["SERIESBOT_CONFIG"] = str(config)
    env.pop("DATABASE_URL", None)
    env.pop("BROKER_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    if broker_url:
        env["BROKER_URL"] = broker_url
    settings = load_settings(config, env=env)
    controller, state = start_list_server(
        "127.0.0.1", relay_port, mbox_path=base / "list.mbox",
        list_address="devel@demo.seriesbot.test", list_id="devel.demo.seriesbot.test",
        forward_to=("127.0.0.1", smtp_port) if echo else None)
    return Stack(base, env, settings, state, controller)


def git_send_email(files: list[Path], port: int, to: str = "devel@demo.seriesbot.test",
                   sender: str = "Ada Lovelace <ada@example.org>", cwd: Path | None = None) -> str:
    from bot.demo.upstream import send_email_argv

    assert shutil.which("git")
    done = subprocess.run(send_email_argv(files, "127.0.0.1", port, to, sender), capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def fresh_postgres_url() -> tuple[str, str]:
    """A new empty database on the local PostgreSQL (dropped by drop_postgres)."""
    import psycopg

    name = f"seriesbot_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}", name


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
