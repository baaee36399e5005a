"""Commands by email, private testing, joining the list, and the outbox against a relay that is
down for a while: real SQLite, real ingest, real SMTP relay (aiosmtpd) where mail leaves."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import dkim
from sqlalchemy import select, update

from bot.commands import authorize as authorize_module
from bot.db.models import CommandRow, OutboundMail, Run, Series, utcnow
from bot.db.session import session_scope
from bot.demo.listserver import start_list_server
from bot.reconcile import reconcile
from bot.report.outbox import deliver_pending
from tests.helpers import free_port, make_mail, patch_body
from tests.ingest_driver import all_series, deliver

CONFIRM = Path(__file__).resolve().parent.parent / "fixtures" / "mail" / "confirm"
AUTHOR = "Ada Lovelace <ada@example.org>"


def _series(settings, tag="c", n=2):
    deliver(settings, make_mail(f"[PATCH 0/{n}] util: thing", msgid=f"{tag}-0@x", sender=AUTHOR, body="Blurb.\n"))
    for i in range(1, n + 1):
        deliver(settings, make_mail(f"[PATCH {i}/{n}] util: part {i}", msgid=f"{tag}-{i}@x", sender=AUTHOR,
                                    in_reply_to=f"{tag}-0@x", body=patch_body(path=f"src/p{i}.c")))
    return all_series(settings)[-1]


def _command(settings, text, *, sender=AUTHOR, msgid, reply_to="c-1@x", list_id="devel.demo.seriesbot.test",
             headers=None):
    return deliver(settings, make_mail("Re: [PATCH 1/2] util: part 1", msgid=msgid, sender=sender,
                                       in_reply_to=reply_to, list_id=list_id, body=text, headers=headers))


def _commands(settings):
    with session_scope(settings.database_url) as s:
        return [(c.sender, c.verb, c.allowed, c.replied, c.decision) for c in s.scalars(select(CommandRow).order_by(CommandRow.id))]


def _outbox(settings, kind=None):
    with session_scope(settings.database_url) as s:
        q = select(OutboundMail).order_by(OutboundMail.id)
        if kind:
            q = q.where(OutboundMail.kind == kind)
        return [{"to": m.to, "cc": m.cc, "subject": m.subject, "body": m.body, "headers": m.headers, "state": m.state,
                 "key": m.key} for m in s.scalars(q)]


def _runs(settings, series_id):
    with session_scope(settings.database_url) as s:
        return [(r.trigger, r.state, r.options, r.requested_by) for r in s.scalars(
            select(Run).where(Run.series_id == series_id).order_by(Run.id))]


def test_author_retest_on_another_base_and_rules_only(bot_settings):
    s = _series(bot_settings)
    _command(bot_settings, "Please.\n\nseriesbot: retest base=v1.2\n", msgid="cmd1@x")
    runs = _runs(bot_settings, s["id"])
    assert runs[0][1] == "cancelled" and runs[1][:3] == ("retest", "queued", {"force": True, "base": "v1.2"})
    assert runs[1][3] == "ada@example.org"
    _command(bot_settings, "seriesbot: rules\n", msgid="cmd2@x")
    assert _runs(bot_settings, s["id"])[-1][2] == {"force": True, "rules_only": True}
    assert [c[2] for c in _commands(bot_settings)] == [True, True]


def test_option_injection_in_base_is_refused(bot_settings):
    s = _series(bot_settings)
    _command(bot_settings, "seriesbot: retest base=--upload-pack=touch_pwned\n", msgid="inj@x")
    assert len(_runs(bot_settings, s["id"])) == 1
    [(sender, verb, allowed, replied, decision)] = _commands(bot_settings)
    assert not allowed and replied and "not a commit-ish" in decision


def test_strangers_are_refused_politely_once_an_hour(bot_settings):
    s = _series(bot_settings)
    for i in range(3):
        _command(bot_settings, "seriesbot: retest\n", sender="Eve <eve@example.org>", msgid=f"eve{i}@x")
    rows = _commands(bot_settings)
    assert [r[2] for r in rows] == [False, False, False]
    assert [r[3] for r in rows] == [True, False, False]
    assert len(_runs(bot_settings, s["id"])) == 1
    [refusal] = _outbox(bot_settings, "command-reply")
    assert refusal["to"] == ["eve@example.org"] and "series author" in refusal["body"]
    assert refusal["headers"]["In-Reply-To"] == "<eve0@x>"


def test_maintainer_cancels_and_quoted_commands_are_ignored(bot_settings):
    s = _series(bot_settings)
    _command(bot_settings, "> seriesbot: retest\n\nseriesbot: cancel\n", sender="Maint <maintainer@demo.seriesbot.test>",
             msgid="m1@x")
    assert [(c[1], c[2]) for c in _commands(bot_settings)] == [("cancel", True)]
    assert _runs(bot_settings, s["id"])[0][1] == "cancelled"


def test_help_and_unknown_verbs_get_the_command_list(bot_settings):
    _series(bot_settings)
    _command(bot_settings, "seriesbot: help\n", sender="Someone <someone@example.org>", msgid="h1@x")
    _command(bot_settings, "seriesbot: frobnicate\n", msgid="h2@x")
    replies = _outbox(bot_settings, "command-reply")
    assert len(replies) == 2
    for reply in replies:
        assert "seriesbot: retest [base=<commit-ish or branch>]" in reply["body"]
        assert "seriesbot: cancel" in reply["body"] and "seriesbot: rules" in reply["body"]
    assert "Unknown command 'frobnicate'" in replies[1]["body"]


def test_rate_limit_per_sender(bot_settings):
    settings = replace(bot_settings, projects={**bot_settings.projects, "demo": replace(
        bot_settings.project("demo"), commands_per_hour=3)})
    s = _series(settings)
    for i in range(5):
        _command(settings, "seriesbot: rules\n", msgid=f"r{i}@x")
    assert [c[2] for c in _commands(settings)] == [True, True, True, False, False]
    assert "rate limit" in _commands(settings)[3][4]
    assert len(_runs(settings, s["id"])) == 4


def test_command_sent_straight_to_the_bot_in_reply_to_its_own_mail(bot_settings):
    from bot.records import OutgoingMail
    from bot.report.outbox import queue_mail

    s = _series(bot_settings)
    with session_scope(bot_settings.database_url) as session:
        queue_mail(session, OutgoingMail("k", "summary", ("devel@demo.seriesbot.test",), (), "Re: x", "body", "c-0@x",
                                         ("c-0@x",), "seriesbot.run-1.summary@seriesbot.test"), run_id=None,
                   series_id=s["id"])
    pk, status = deliver(bot_settings, make_mail("Re: x", msgid="direct@x", sender=AUTHOR, list_id=None,
                                                 in_reply_to="seriesbot.run-1.summary@seriesbot.test",
                                                 body="seriesbot: retest\n"), to="seriesbot@seriesbot.test")
    assert status == "parsed"
    assert _runs(bot_settings, s["id"])[-1][0] == "retest"


def _dkim_key(tmp_path: Path) -> tuple[bytes, bytes]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    import base64

    return key.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(pub)


def test_dkim_required_for_commands(bot_settings, tmp_path, monkeypatch):
    settings = replace(bot_settings, projects={**bot_settings.projects, "demo": replace(
        bot_settings.project("demo"), dkim_required=True)})
    private, record = _dkim_key(tmp_path)
    monkeypatch.setattr(authorize_module, "DNS_FUNC", lambda name, timeout=5: record
                        if name == b"sel._domainkey.example.org." else None)
    s = _series(settings)
    _command(settings, "seriesbot: retest\n", msgid="unsigned@x")
    raw = make_mail("Re: [PATCH 1/2] util: part 1", msgid="signed@x", sender=AUTHOR, in_reply_to="c-1@x",
                    body="seriesbot: retest\n")
    signature = dkim.sign(raw, b"sel", b"example.org", private, include_headers=[b"from", b"subject", b"message-id"])
    deliver(settings, signature + raw)
    assert [(c[2], c[4].split(" (")[0]) for c in _commands(settings)][0][0] is False
    assert _commands(settings)[1][2] is True
    assert _runs(settings, s["id"])[-1][0] == "retest"


def test_private_series_is_answered_to_the_sender_only(bot_settings):
    from bot.report.report import report_incomplete

    for i in (1, 2):
        deliver(bot_settings, make_mail(f"[PATCH {i}/3] util: private {i}", msgid=f"pv-{i}@x", sender=AUTHOR,
                                        list_id=None, in_reply_to="pv-1@x" if i > 1 else None,
                                        body=patch_body(path=f"src/q{i}.c")), to="seriesbot+demo@seriesbot.test")
    [s] = all_series(bot_settings)
    with session_scope(bot_settings.database_url) as session:
        series = session.get(Series, s["id"])
        assert series.private and series.project == "demo"
        series.state, series.last_message_at = "incomplete", utcnow() - dt.timedelta(days=1)
    assert report_incomplete(s["id"], bot_settings)
    [mail] = _outbox(bot_settings, "incomplete")
    assert mail["to"] == ["ada@example.org"] and mail["cc"] == []
    assert "patch(es) 3 of v1" in mail["body"] and "seriesbot: retest" in mail["body"]


def test_incomplete_series_is_reported_once_by_the_reconciler(bot_settings):
    deliver(bot_settings, make_mail("[PATCH 0/3] util: three", msgid="i-0@x", sender=AUTHOR, body="x\n"))
    deliver(bot_settings, make_mail("[PATCH 1/3] util: one", msgid="i-1@x", sender=AUTHOR, in_reply_to="i-0@x",
                                    body=patch_body()))
    with session_scope(bot_settings.database_url) as session:
        session.execute(update(Series).values(last_message_at=utcnow() - dt.timedelta(days=1)))
    reconcile(bot_settings, send_mail=False)
    reconcile(bot_settings, send_mail=False)
    [mail] = _outbox(bot_settings, "incomplete")
    assert mail["to"] == ["devel@demo.seriesbot.test"] and mail["headers"]["In-Reply-To"] == "<i-0@x>"
    assert "NOT TESTED: incomplete series (1 of 3 patches arrived)" in mail["body"]


def test_joining_mailman3_and_mailman2_lists(bot_settings, tmp_path):
    settings = replace(bot_settings, projects={**bot_settings.projects, "demo": replace(
        bot_settings.project("demo"), subscribe_address="devel-join@demo.seriesbot.test")})
    from bot.commands.subscription import subscription_request
    from bot.report.outbox import queue_mail

    with session_scope(settings.database_url) as session:
        queue_mail(session, subscription_request(settings, settings.project("demo")), run_id=None, series_id=None)
    for name, reply_to, token in [
        ("mailman3", "devel-confirm+8d3e2c5f1a9b4e7d6c0f2a1b3c4d5e6f7a8b9c0d@demo.seriesbot.test",
         "8d3e2c5f1a9b4e7d6c0f2a1b3c4d5e6f7a8b9c0d"),
        ("mailman2", "devel-request@demo.seriesbot.test", "1f2e3d4c5b6a79880a1b2c3d4e5f60718293a4b5"),
    ]:
        pk, status = deliver(settings, (CONFIRM / f"{name}.eml").read_bytes(), to="seriesbot@seriesbot.test")
        assert status == "parsed"
        answer = [m for m in _outbox(settings, "subscribe-confirm") if token in m["subject"]]
        assert len(answer) == 1 and answer[0]["to"] == [reply_to]
    [request] = _outbox(settings, "subscribe")
    assert request["to"] == ["devel-join@demo.seriesbot.test"]


def test_outbox_survives_a_relay_that_refuses_for_a_while_exactly_once(bot_settings):
    port = free_port()
    settings = replace(bot_settings, smtp_out=replace(bot_settings.smtp_out, port=port, retry_base_seconds=0.2,
                                                      retry_max_seconds=1.0, max_attempts=1000))
    from bot.records import OutgoingMail
    from bot.report.outbox import queue_mail

    with session_scope(settings.database_url) as session:
        for i in range(5):
            mail = OutgoingMail(f"k{i}", "summary", ("devel@demo.seriesbot.test",), (), f"Re: {i}", "body\n", None, (),
                                f"out-{i}@seriesbot.test")
            assert queue_mail(session, mail, run_id=None, series_id=None)
            assert not queue_mail(session, mail, run_id=None, series_id=None)  # same key: a no-op
    # 1. nothing listens at all: temporary failures, retried with backoff
    assert deliver_pending(settings)["retry"] == 5
    # 2. the relay is up but refuses every transaction with 421 for a while
    controller, relay = start_list_server("127.0.0.1", port)
    relay.refuse_with = "421 4.3.2 maintenance, try later"
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            deliver_pending(settings)
            time.sleep(0.1)
        assert relay.received == []
        relay.refuse_with = None
        deadline = time.monotonic() + 10
        while len(relay.received) < 5 and time.monotonic() < deadline:
            deliver_pending(settings)
            time.sleep(0.1)
        for _ in range(5):
            deliver_pending(settings)
    finally:
        controller.stop()
    ids = sorted(m["Message-ID"] for m in relay.received)
    assert ids == sorted(f"<out-{i}@seriesbot.test>" for i in range(5))
    states = {m["state"] for m in _outbox(settings)}
    assert states == {"sent"}


def test_private_series_full_run_answers_the_sender_only(bot_settings):
    import re

    from bot.demo.upstream import create_upstream
    from bot.report.report import report_patch, report_run
    from tests.fixtures_demo import demo_mails
    from workers.pipeline import run_series

    create_upstream(Path(bot_settings.project("demo").upstream))
    for raw in demo_mails("priv", indexes=[1]):
        private = re.sub(rb"(?m)^List-Id:.*\n", b"", raw)
        deliver(bot_settings, private, to="seriesbot+demo@seriesbot.test")
    [s] = all_series(bot_settings)
    with session_scope(bot_settings.database_url) as session:
        run_id = session.scalar(select(Run.id).where(Run.series_id == s["id"]))
        assert session.get(Series, s["id"]).private
    run_series(run_id, bot_settings)
    from bot.db.models import PatchResult

    with session_scope(bot_settings.database_url) as session:
        result_ids = session.scalars(select(PatchResult.id).where(PatchResult.run_id == run_id)).all()
    for result_id in result_ids:
        report_patch(result_id, bot_settings)
    report_run(run_id, bot_settings)
    mails = _outbox(bot_settings)
    assert {m["key"].split("/")[-1] for m in mails} == {"reply", "summary"}
    assert all(m["to"] == ["ada@example.org"] and m["cc"] == [] for m in mails)
