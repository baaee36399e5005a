"""The real Mailman 3 mails (tests/fixtures/mail/mailman3/) through store and ingest on SQLite:
a confirmation is answered only for the bot's own recent request and only when it comes from that
list; notices are stored and marked; a disabled delivery is told to the admins; a patch posted
through the list is assembled under its author, with the author's copy kept for git am."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select, update

from bot.commands.subscription import membership, subscription_request
from bot.db.models import Message, OutboundMail, Patch, Series, utcnow
from bot.db.session import session_scope
from bot.ingest.ingest import ingest_message
from bot.receive.store import store_message
from bot.report.outbox import queue_mail

MAILMAN3 = Path(__file__).resolve().parent.parent / "fixtures" / "mail" / "mailman3"
BOUNCES = "devel-bounces@demo.seriesbot.test"


def _deliver(settings, name_or_raw, envelope_from: str = BOUNCES) -> tuple[int, str]:
    raw = name_or_raw if isinstance(name_or_raw, bytes) else (MAILMAN3 / f"{name_or_raw}.eml").read_bytes()
    outcome = store_message(raw, settings, source="test", envelope_from=envelope_from,
                            envelope_to=["seriesbot@seriesbot.test"], enqueue=False)
    return outcome.message_pk, ingest_message(outcome.message_pk, settings)


def _row(settings, pk: int) -> Message:
    with session_scope(settings.database_url) as session:
        row = session.get(Message, pk)
        session.expunge(row)
        return row


def _outbox(settings, kind: str) -> list[OutboundMail]:
    with session_scope(settings.database_url) as session:
        rows = list(session.scalars(select(OutboundMail).where(OutboundMail.kind == kind)))
        session.expunge_all()
        return rows


def _request(settings, action: str = "subscribe") -> None:
    with session_scope(settings.database_url) as session:
        queue_mail(session, subscription_request(settings, settings.project("demo"), action), run_id=None,
                   series_id=None)


def test_a_confirmation_without_a_request_of_the_bot_is_not_answered(bot_settings):
    pk, status = _deliver(bot_settings, "confirm-join")
    row = _row(bot_settings, pk)
    assert status == "ignored" and row.list_notice == "confirm-join" and row.project == "demo"
    assert "no join or leave request" in row.reason
    assert _outbox(bot_settings, "subscribe-confirm") == []


def test_the_bots_join_request_is_confirmed_once_at_the_lists_own_address(bot_settings):
    _request(bot_settings)
    pk, status = _deliver(bot_settings, "confirm-join")
    assert status == "parsed" and "answered" in _row(bot_settings, pk).reason
    [answer] = _outbox(bot_settings, "subscribe-confirm")
    token = "12494569a532e269f0922352baf2b2743b913004"
    assert answer.to == [f"devel-confirm+{token}@demo.seriesbot.test"] and answer.subject == f"confirm {token}"
    assert _deliver(bot_settings, "welcome")[1] == "ignored"
    with session_scope(bot_settings.database_url) as session:
        assert membership(session, "demo").startswith("member (the list said so")


def test_a_leave_confirmation_is_not_answered_for_a_join_request(bot_settings):
    _request(bot_settings, "subscribe")
    pk, status = _deliver(bot_settings, "confirm-leave")
    assert status == "ignored" and "last request was to subscribe" in _row(bot_settings, pk).reason
    _request(bot_settings, "unsubscribe")
    assert _deliver(bot_settings, replace_msgid("confirm-leave", "again@x"))[1] == "parsed"


def replace_msgid(name: str, msgid: str) -> bytes:
    raw = (MAILMAN3 / f"{name}.eml").read_bytes()
    return re.sub(rb"Message-ID: <[^>]+>", f"Message-ID: <{msgid}>".encode(), raw, count=1)


def test_forged_confirmations_are_not_answered(bot_settings):
    _request(bot_settings)
    raw = (MAILMAN3 / "confirm-join.eml").read_bytes()
    other_list = raw.replace(b"List-Id: <devel.demo.seriesbot.test>", b"List-Id: <devel.other.test>")
    pk, status = _deliver(bot_settings, re.sub(rb"Message-ID: <[^>]+>", b"Message-ID: <f1@x>", other_list))
    assert status == "ignored" and "not answered" in _row(bot_settings, pk).reason
    pk2, status2 = _deliver(bot_settings, re.sub(rb"Message-ID: <[^>]+>", b"Message-ID: <f2@x>", raw),
                            envelope_from="attacker@evil.example")
    assert status2 == "ignored" and "envelope sender" in _row(bot_settings, pk2).reason
    assert _outbox(bot_settings, "subscribe-confirm") == []


def test_an_old_request_is_not_confirmed_and_answers_are_capped(bot_settings):
    _request(bot_settings)
    with session_scope(bot_settings.database_url) as session:
        session.execute(update(OutboundMail).values(created_at=utcnow() - dt.timedelta(days=8)))
    assert _deliver(bot_settings, "confirm-join")[1] == "ignored"
    _request(bot_settings)
    statuses = []
    for i in range(5):
        raw = replace_msgid("confirm-join", f"c{i}@x").replace(b"12494569a532e269f0922352baf2b2743b91300",
                                                                f"12494569a532e269f0922352baf2b2743b9130{i}".encode())
        statuses.append(_deliver(bot_settings, raw)[1])
    assert statuses == ["parsed"] * 3 + ["ignored"] * 2


def test_notices_are_stored_marked_and_only_a_disabled_delivery_is_told(bot_settings):
    settings = replace(bot_settings, admin_addresses=("admin@seriesbot.test",))
    for name in ("welcome", "probe", "digest-mime", "digest-plain", "goodbye", "disabled"):
        pk, status = _deliver(settings, name)
        row = _row(settings, pk)
        assert status == "ignored" and row.list_notice and row.series_id is None and row.project == "demo", name
    [told] = _outbox(settings, "admin-notice")
    assert told.to == ["admin@seriesbot.test"] and "disabled" in told.subject
    assert "seriesbot@seriesbot.test" in told.body and "> Your subscription has been disabled" in told.body
    with session_scope(settings.database_url) as session:
        assert list(session.scalars(select(Series))) == []
        assert membership(session, "demo").startswith("member, delivery disabled")


def test_a_patch_through_the_list_is_assembled_under_its_author(bot_settings):
    pk, status = _deliver(bot_settings, "post-patch", envelope_from="devel-bounces@demo.seriesbot.test")
    assert status == "parsed"
    row = _row(bot_settings, pk)
    assert row.from_addr == "ada@example.org" and row.author_raw and b"mailing list --" not in row.author_raw
    assert b"From: Ada Lovelace <ada@example.org>" in row.author_raw
    with session_scope(bot_settings.database_url) as session:
        [series] = session.scalars(select(Series))
        [patch] = session.scalars(select(Patch))
        assert series.author_email == "ada@example.org" and series.title.startswith("test: Record the state")
        assert patch.author_email == "ada@example.org" and not patch.subject.startswith("[Devel]")
    pk, status = _deliver(bot_settings, "post-reply")
    assert status == "parsed"
    with session_scope(bot_settings.database_url) as session:
        [patch] = session.scalars(select(Patch))
        assert ["Reviewed-by", "Ada Lovelace <ada@example.org>"] == patch.trailers[-1][:2]
