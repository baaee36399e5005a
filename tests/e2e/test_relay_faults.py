"""Exactly one mail per reply under a slow or crashing relay, with the bot's real light worker (a
separate `seriesbot worker` process) sending to a local aiosmtpd relay that keeps each mail before
it answers, counting what the relay received.

- A relay that answers the final 250 only after 40 s (RFC 5321 gives it 10 minutes): with the
  default timeouts every reply arrives once (it used to time out at 30 s and send again).
- The worker killed -9 while the relay holds a mail: the row is left `sending`; the next worker
  resends it once, with the same Message-ID, and never again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import queue
from bot.db.models import OutboundMail
from bot.db.session import init_db, session_scope
from bot.records import OutgoingMail
from bot.report.outbox import queue_mail
from bot.settings import Settings, load_settings, set_settings
from tests.helpers import free_port, wait_for
from tests.relay import Relay
from tests.stack import ROOT, write_config


def start_stack(base: Path, relay: Relay, smtp_extra: str = "") -> tuple[Settings, dict[str, str]]:
    config = write_config(base, smtp_port=free_port(), web_port=free_port(), relay_port=relay.port)
    text = config.read_text().replace("retry_max_seconds = 5\n", f"retry_max_seconds = 5\n{smtp_extra}\n")
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env["SERIESBOT_CONFIG"] = str(config)
    settings = load_settings(config, env=env)
    set_settings(settings)  # queue.enqueue configures the broker from this process's settings
    init_db(settings.database_url)
    return settings, env


def light_worker(base: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log = open(base / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--queues", "light", "--pool", "threads",
                             "--concurrency", "4", "--name", name], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def queue_replies(settings: Settings, count: int) -> list[str]:
    ids = []
    with session_scope(settings.database_url) as session:
        for i in range(count):
            mail = OutgoingMail(key=f"reply-{i}", kind="patch-reply", to=("devel@demo.seriesbot.test",), cc=(),
                                subject=f"Re: [PATCH {i}/{count}]", body="ok\n", in_reply_to=None, references=(),
                                message_id=f"reply-{i}@seriesbot.test", headers={"X-Seriesbot": "seriesbot"})
            queue_mail(session, mail, run_id=None, series_id=None)
            ids.append(f"<{mail.message_id}>")
    return ids


def states(settings: Settings) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        return {r.key: r.state for r in session.scalars(select(OutboundMail))}


def logs(base: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(base.glob("*.log")))


def test_a_relay_that_answers_after_40_seconds_gets_each_reply_once(tmp_path):
    with Relay(hold=40.0) as relay:
        settings, env = start_stack(tmp_path, relay)  # the default timeout (30 s) and data_timeout (600 s)
        assert settings.smtp_out.timeout == 30 and settings.smtp_out.data_timeout == 600
        expected = queue_replies(settings, 3)
        worker = light_worker(tmp_path, env, "light")
        try:
            # the filesystem broker routes by the bindings the consumer declared: publish once it is up
            wait_for(lambda: "ready." in (tmp_path / "light.log").read_text(errors="replace"), 60)
            for _ in expected:  # three senders at once (threads), so the three 40 s waits overlap
                queue.enqueue(queue.SEND_OUTBOX)
            wait_for(lambda: set(states(settings).values()) == {"sent"}, 75, what="all sent")
            time.sleep(3)  # a resend would show here
            assert sorted(relay.message_ids()) == sorted(expected), logs(tmp_path)
        finally:
            stop(worker)


def test_a_worker_killed_while_the_relay_holds_a_mail_resends_it_once(tmp_path):
    with Relay(hold=15.0) as relay:
        # short timeouts so a lost sender is noticed quickly: stale after 6 + 4 * 1 = 10 s
        settings, env = start_stack(tmp_path, relay, "timeout = 1\ndata_timeout = 6")
        expected = queue_replies(settings, 1)
        first = light_worker(tmp_path, env, "light-1")
        try:
            wait_for(lambda: len(relay.received) == 1, 30, what="the relay holds the mail")
            assert states(settings) == {"reply-0": "sending"}
        finally:
            stop(first, signal.SIGKILL)
        relay.hold = 0
        second = light_worker(tmp_path, env, "light-2")
        try:
            wait_for(lambda: states(settings) == {"reply-0": "sent"}, 60, what="the resend")
            time.sleep(3)
            assert relay.message_ids() == expected * 2, "resent once, with the same Message-ID"
            with session_scope(settings.database_url) as session:
                row = session.scalar(select(OutboundMail))
                assert row.unknown_outcomes == 1 and row.attempts == 2  # the killed send counts
        finally:
            stop(second)


@pytest.fixture(autouse=True)
def _logs_when_failed(request, tmp_path):
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(logs(tmp_path))
