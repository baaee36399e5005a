"""Exactly one mail per reply under a slow or crashing relay, with the bot's real light worker (a
separate `seriesbot worker` process) sending to a local aiosmtpd relay that keeps each mail before
it answers, counting what the relay received.

- A relay that answers the final 250 only after 40 s (RFC 5321 gives it 10 minutes): with the
  default timeouts every reply arrives once (it used to time out at 30 s and send again).
- The worker killed -9 while the relay holds two mails: the rows are left `sending`; the next worker
  looks them up on the list's archive (a real public-inbox, fed by the relay as a list server feeds
  it): the one the archive holds is marked sent and not resent; the one it lacks is resent once,
  with the same Message-ID, and never again."""

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
from bot.db.models import OutboundMail, Series
from bot.db.session import init_db, session_scope
from bot.records import OutgoingMail
from bot.report.outbox import queue_mail
from bot.settings import Settings, load_settings, set_settings
from tests.fixtures_demo import demo_mails
from tests.helpers import free_port, wait_for
from tests.ingest_driver import deliver
from tests.publicinbox import PublicInbox, wait_served
from tests.relay import Relay
from tests.stack import ROOT, write_config


def start_stack(base: Path, relay: Relay, smtp_extra: str = "", inbox_url: str = "") -> tuple[Settings, dict[str, str]]:
    config = write_config(base, smtp_port=free_port(), web_port=free_port(), relay_port=relay.port)
    text = config.read_text().replace("retry_max_seconds = 5\n", f"retry_max_seconds = 5\n{smtp_extra}\n")
    config.write_text(text)
    if inbox_url:  # a top-level key of the project: before its first [section]
        demo = config.parent / "projects" / "demo.toml"
        demo.write_text(f'inbox_url = "{inbox_url}"\n' + demo.read_text())
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


def queue_replies(settings: Settings, count: int, series_id: int | None = None) -> list[str]:
    ids = []
    with session_scope(settings.database_url) as session:
        for i in range(count):
            mail = OutgoingMail(key=f"reply-{i}", kind="patch-reply", to=("devel@demo.seriesbot.test",), cc=(),
                                subject=f"Re: [PATCH {i}/{count}]", body="ok\n", in_reply_to=None, references=(),
                                message_id=f"reply-{i}@seriesbot.test", headers={"X-Seriesbot": "seriesbot"})
            queue_mail(session, mail, run_id=None, series_id=series_id)
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


def a_series(settings: Settings) -> int:
    for raw in demo_mails("relay", indexes=[1]):
        deliver(settings, raw)
    with session_scope(settings.database_url) as session:
        return session.scalar(select(Series.id))


def test_a_crash_while_the_relay_holds_mail_looks_the_archive_up_first(tmp_path):
    inbox = PublicInbox(tmp_path / "pi").create()
    with inbox, Relay(hold=15.0) as relay:
        relay.on_receive = lambda raw: inbox.add(raw) if b"<reply-0@" in raw else None  # the list archived one
        settings, env = start_stack(tmp_path, relay, "timeout = 1\ndata_timeout = 4", inbox_url=inbox.serve())
        expected = queue_replies(settings, 2, a_series(settings))
        first = light_worker(tmp_path, env, "light-1")
        try:
            wait_for(lambda: "ready." in (tmp_path / "light-1.log").read_text(errors="replace"), 60)
            for _ in expected:  # both in flight at once
                queue.enqueue(queue.SEND_OUTBOX)
            wait_for(lambda: len(relay.received) == 2, 30, what="the relay holds both mails")
            wait_served(inbox, expected[0])
            assert set(states(settings).values()) == {"sending"}
        finally:
            stop(first, signal.SIGKILL)
        relay.hold = 0
        second = light_worker(tmp_path, env, "light-2")
        try:
            wait_for(lambda: set(states(settings).values()) == {"sent"}, 60, what="both resolved")
            time.sleep(2)
        finally:
            stop(second)
        ids = relay.message_ids()
        assert ids.count(expected[0]) == 1, "on the archive: not sent again"
        assert ids.count(expected[1]) == 2, "not on the archive: sent once more, with the same Message-ID"
        with session_scope(settings.database_url) as session:
            found = {r.key: r for r in session.scalars(select(OutboundMail))}
        assert "found on the list archive" in found["reply-0"].last_error
        assert found["reply-0"].unknown_outcomes == found["reply-1"].unknown_outcomes == 1
        assert found["reply-1"].attempts == 2  # the killed send counts


@pytest.fixture(autouse=True)
def _logs_when_failed(request, tmp_path):
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(logs(tmp_path))
