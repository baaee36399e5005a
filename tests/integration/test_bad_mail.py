"""Bad mail is stored with its raw bytes and a reason, never dropped, never a crash; the valid
patches inside still work. Through a real SMTP socket and through the mbox importer."""

from __future__ import annotations

import json
import smtplib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.db.models import Message, Patch
from bot.db.session import session_scope
from bot.ingest.ingest import ingest_message
from bot.ingest.parse import parse_mail
from bot.receive.importers import import_mbox
from bot.receive.smtp import start_smtp
from bot.receive.store import header_msgid, store_message
from bot.settings import Settings
from tests.helpers import free_port

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "mail" / "hostile"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


def test_corpus_is_big_enough():
    assert len(MANIFEST) >= 30


def _with_port(settings: Settings, **smtp_in) -> Settings:
    from dataclasses import replace

    return replace(settings, smtp_in=replace(settings.smtp_in, port=free_port(), **smtp_in))


def _wire(raw: bytes) -> bytes:
    """What SMTP may change: line ends, and a final line end added by the client."""
    return raw.replace(b"\r\n", b"\n").rstrip(b"\r\n")


def _rows(settings: Settings) -> dict[str, Message]:
    with session_scope(settings.database_url) as session:
        return {m.message_id: m for m in session.scalars(select(Message))}


def test_hostile_corpus_through_smtp(bot_settings):
    settings = _with_port(bot_settings)
    controller, _ = start_smtp(settings)
    try:
        for name in sorted(MANIFEST):
            raw = (CORPUS / f"{name}.eml").read_bytes()
            with smtplib.SMTP("127.0.0.1", settings.smtp_in.port, timeout=30) as smtp:
                smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], raw)
    finally:
        controller.stop()
    rows = _rows(settings)
    assert len(rows) >= len(MANIFEST) - 1  # the two-Message-ID case may share an id with nothing else
    for message in rows.values():
        status = ingest_message(message.id, settings)  # never raises
        assert status in ("parsed", "ignored", "rejected", "error")
    rows = _rows(settings)
    for name, expected in MANIFEST.items():
        raw = (CORPUS / f"{name}.eml").read_bytes()
        matches = [m for m in rows.values() if _wire(m.raw) == _wire(raw)]
        assert matches, f"{name} was not stored with its raw bytes"
        row = matches[0]
        assert row.status == expected["status"], (name, row.status, row.reason)
        if row.status == "rejected":
            assert row.reason, name
        if expected["patch"]:
            with session_scope(settings.database_url) as session:
                patch = session.scalar(select(Patch).where(Patch.message_pk == row.id))
            assert patch is not None, (name, row.status, row.reason)


def test_oversize_mail_is_refused_with_552_and_kept_as_a_row_on_import(bot_settings, tmp_path):
    settings = _with_port(bot_settings, max_message_size=1_000_000)
    big = b"From: a@b\nSubject: [PATCH] big\nMessage-ID: <big@x>\n\n" + b"x" * 2_000_000
    controller, _ = start_smtp(settings)
    try:
        with smtplib.SMTP("127.0.0.1", settings.smtp_in.port, timeout=30) as smtp:
            with pytest.raises(smtplib.SMTPException) as exc:
                smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], big)
            assert "552" in str(exc.value)
        assert _rows(settings) == {}
    finally:
        controller.stop()
    mbox = tmp_path / "big.mbox"
    mbox.write_bytes(b"From x@y Thu Jan  1 00:00:00 2026\n" + big + b"\n")
    report = import_mbox(mbox, settings)
    assert report.rejected == 1
    row = _rows(settings)["big@x"]
    assert row.status == "rejected" and "size limit" in row.reason


def test_smtp_refuses_unknown_recipients_and_peers(bot_settings):
    settings = _with_port(bot_settings)
    controller, _ = start_smtp(settings)
    try:
        with smtplib.SMTP("127.0.0.1", settings.smtp_in.port, timeout=30) as smtp:
            smtp.ehlo()
            smtp.mail("a@b")
            code, msg = smtp.rcpt("nobody@elsewhere.test")
            assert code == 550 and b"5.1.1" in msg
    finally:
        controller.stop()
    strict = _with_port(bot_settings, accept_peers=("192.0.2.1",))
    controller, _ = start_smtp(strict)
    try:
        with smtplib.SMTP("127.0.0.1", strict.smtp_in.port, timeout=30) as smtp:
            smtp.ehlo()
            code, msg = smtp.mail("a@b")
            assert code == 550 and b"5.7.1" in msg
    finally:
        controller.stop()


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_parser_never_raises_on_arbitrary_bytes(raw):
    parsed = parse_mail(raw, bot_address="seriesbot@seriesbot.test")
    assert parsed.message_id == header_msgid(raw)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000).map(lambda b: b"Subject: [PATCH 1/2] x\nList-Id: <devel.demo.seriesbot.test>\n\n" + b))
def test_arbitrary_bytes_never_raise_out_of_ingest(bot_settings, raw):
    outcome = store_message(raw, bot_settings, source="fuzz", enqueue=False)
    assert ingest_message(outcome.message_pk, bot_settings) in ("parsed", "ignored", "rejected", "error")
