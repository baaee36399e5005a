"""The last filter on a real database and the real dashboard: a secret that reached a mail or a
log anyway is stored and served as [redacted]."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient
from sqlalchemy import select

from bot import redact
from bot.db.models import OutboundMail
from bot.db.session import session_scope
from bot.records import OutgoingMail
from bot.report.outbox import queue_mail
from bot.web.app import create_app

SECRET = "relay-password-0123456789"


def test_mail_rows_and_served_logs_never_hold_the_secret(bot_settings):
    settings = replace(bot_settings, smtp_out=replace(bot_settings.smtp_out, password=SECRET))
    redact.configure(settings)
    try:
        with session_scope(settings.database_url) as session:
            queue_mail(session, OutgoingMail(key="k1", kind="patch", to=("a@example.org",), cc=(),
                                             subject=f"re: {SECRET}", body=f"the log said {SECRET}\n",
                                             in_reply_to=None, references=(), message_id="m1@example.org"),
                       run_id=None, series_id=None)
        with session_scope(settings.database_url) as session:
            row = session.scalar(select(OutboundMail))
            assert SECRET not in row.body + row.subject and redact.REDACTED in row.body
        log = settings.logs_dir / "run-1" / "patch-001-build.log"
        log.parent.mkdir(parents=True)
        log.write_text(("x" * 70000 + f" {SECRET}\n") * 5)  # across the raw stream's chunks
        client = TestClient(create_app(settings))
        for url in ("/logs/run-1/patch-001-build.log", "/logs/run-1/patch-001-build.log?raw=1",
                    "/api/logs/run-1/patch-001-build.log"):
            response = client.get(url)
            assert response.status_code == 200 and SECRET not in response.text, url
            assert redact.REDACTED in response.text
    finally:
        redact.configure(bot_settings)
