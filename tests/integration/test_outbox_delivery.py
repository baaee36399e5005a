"""The outbox against a real relay on loopback: the final reply is awaited `data_timeout`, not the
command timeout; a send whose outcome is unknown is resent once with the same Message-ID (none when
the list archive has it), and a second unknown outcome is left to a human; a run's summary waits for
its patch replies; a mail refused for good is kept, shown, mailed to the admins, and `seriesbot
outbox retry` sends it again."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from bot.cli import main
from bot.db.models import OutboundMail, Patch, PatchResult, Run, Series, utcnow
from bot.db.session import dispose_all, init_db, session_scope
from bot.records import OutgoingMail
from bot.report import delivery, outbox
from bot.report.outbox import build_message, deliver_pending, queue_mail
from bot.report.transport import OutcomeUnknown, SmtpTransport
from bot.web.app import create_app
from tests.fixtures_demo import demo_mails
from tests.ingest_driver import deliver
from tests.relay import Relay
from tests.stack import drop_postgres, fresh_postgres_url

ADMIN = "admin@seriesbot.test"


def on_relay(settings, relay: Relay, **smtp):
    return replace(settings, admin_addresses=(ADMIN,),
                   smtp_out=replace(settings.smtp_out, host="127.0.0.1", port=relay.port, retry_base_seconds=0,
                                    retry_max_seconds=0, **smtp))


def a_mail(key: str, kind: str = "patch-reply") -> OutgoingMail:
    return OutgoingMail(key=key, kind=kind, to=("devel@demo.seriesbot.test",), cc=(), subject=f"Re: {key}",
                        body="result\n", in_reply_to=None, references=(), message_id=f"{key}@seriesbot.test",
                        headers={"X-Seriesbot": "seriesbot"})


@pytest.fixture(params=["sqlite", "postgresql"])
def bot_settings(bot_settings, request):
    """Every test on both databases (the claim is one conditional UPDATE with correlated subqueries)."""
    if request.param == "sqlite":
        yield bot_settings
        return
    url, name = fresh_postgres_url()
    init_db(url)
    yield replace(bot_settings, database_url=url)
    dispose_all()
    drop_postgres(name)


@pytest.fixture
def run_id(bot_settings):
    for raw in demo_mails("outbox"):
        deliver(bot_settings, raw)
    with session_scope(bot_settings.database_url) as session:
        series = session.scalar(select(Series).limit(1))
        run = Run(series_id=series.id, project="demo", trigger="test", state="done")
        session.add(run)
        session.flush()
        return run.id


def queue(settings, run: int | None, *mails: OutgoingMail) -> None:
    with session_scope(settings.database_url) as session:
        series_id = session.scalar(select(Run.series_id).where(Run.id == run)) if run else None
        for mail in mails:
            assert queue_mail(session, mail, run_id=run, series_id=series_id)


def rows(settings) -> dict[str, OutboundMail]:
    with session_scope(settings.database_url) as session:
        found = {r.key: r for r in session.scalars(select(OutboundMail))}
        session.expunge_all()
        return found


def test_the_final_reply_is_awaited_data_timeout_not_the_command_timeout(bot_settings, run_id):
    with Relay(hold=2.0) as relay:
        settings = on_relay(bot_settings, relay, timeout=1.0, data_timeout=6.0)
        queue(settings, run_id, a_mail("slow"))
        with session_scope(settings.database_url) as session:
            row = session.scalar(select(OutboundMail))
            message = build_message(row, settings)
        SmtpTransport(settings.smtp_out).send(message, settings.bot_address, ["devel@demo.seriesbot.test"])
        assert deliver_pending(settings) == {"sent": 1, "retry": 0, "failed": 0}
        assert len(relay.received) == 2  # the direct send and the outbox's, each exactly once
        short = replace(settings.smtp_out, data_timeout=0.5)
        with pytest.raises(OutcomeUnknown):
            SmtpTransport(short).send(message, settings.bot_address, ["devel@demo.seriesbot.test"])


def test_an_unknown_outcome_is_resent_once_then_left_to_a_human(bot_settings, run_id):
    with Relay(hold=1.5) as relay:
        settings = on_relay(bot_settings, relay, timeout=1.0, data_timeout=0.3)
        queue(settings, run_id, a_mail("unknown"))
        assert deliver_pending(settings)["retry"] == 1
        row = rows(settings)["unknown"]
        assert row.state == "pending" and row.next_attempt_at > utcnow()  # the list gets time to archive it
        assert deliver_pending(settings) == {"sent": 0, "retry": 0, "failed": 0}
        with session_scope(settings.database_url) as session:
            session.execute(update(OutboundMail).values(next_attempt_at=utcnow()))
        assert deliver_pending(settings)["failed"] == 1
        row = rows(settings)["unknown"]
        assert row.state == "failed" and row.unknown_outcomes == 2 and row.failed_at is not None
        assert "not sent again" in row.last_error
        assert relay.message_ids().count("<unknown@seriesbot.test>") == 2  # the first send and one resend
        alert = rows(settings)[f"undelivered/{row.id}/2/2"]
        assert alert.to == [ADMIN] and "seriesbot outbox retry" in alert.body


def test_a_send_whose_sender_died_is_looked_up_on_the_archive(bot_settings, run_id, monkeypatch):
    with Relay() as relay:
        settings = on_relay(bot_settings, relay)
        queue(settings, run_id, a_mail("died-found"), a_mail("died-missing"))
        long_ago = utcnow() - dt.timedelta(seconds=settings.smtp_out.stale_after_seconds + 5)
        with session_scope(settings.database_url) as session:
            session.execute(update(OutboundMail).values(state="sending", claimed_at=long_ago, attempts=1))
        asked = []

        def archive(inbox_url, message_id, client=None):
            asked.append(message_id)
            return message_id == "died-found@seriesbot.test"

        monkeypatch.setattr(delivery, "on_list_archive", archive)
        counts = deliver_pending(settings)
        assert sorted(asked) == ["died-found@seriesbot.test", "died-missing@seriesbot.test"]
        assert counts == {"sent": 2, "retry": 2, "failed": 0}  # found: sent without a resend; missing: resent
        assert relay.message_ids() == ["<died-missing@seriesbot.test>"]
        found = rows(settings)
        assert {k: r.state for k, r in found.items()} == {"died-found": "sent", "died-missing": "sent"}
        assert found["died-found"].attempts == 1 and found["died-missing"].attempts == 2


def test_a_fresh_sending_row_is_left_to_its_sender(bot_settings, run_id):
    with Relay() as relay:
        settings = on_relay(bot_settings, relay)
        queue(settings, run_id, a_mail("in-flight"))
        with session_scope(settings.database_url) as session:  # claimed 5 minutes ago: a slow relay, not a crash
            session.execute(update(OutboundMail).values(state="sending", claimed_at=utcnow() - dt.timedelta(minutes=5)))
        assert deliver_pending(settings) == {"sent": 0, "retry": 0, "failed": 0}
        assert relay.received == []


def test_archive_answers_map_to_found_missing_and_cannot_tell():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/raw")
        if "here" in request.url.path:
            return httpx.Response(200, text="From: x\n\nbody\n")
        if "gone" in request.url.path:
            return httpx.Response(404)
        if "down" in request.url.path:
            raise httpx.ConnectError("refused")
        return httpx.Response(503)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    base = "http://archive.test/devel"
    assert delivery.raw_url(base + "/", "<a/b@x>") == "http://archive.test/devel/a%2Fb@x/raw"
    assert delivery.on_list_archive(base, "here@x", client) is True
    assert delivery.on_list_archive(base, "gone@x", client) is False
    assert delivery.on_list_archive(base, "down@x", client) is None
    assert delivery.on_list_archive(base, "busy@x", client) is None
    assert delivery.on_list_archive("", "here@x", client) is None


def test_a_summary_waits_for_its_patch_replies(bot_settings, run_id):
    with Relay() as relay:
        settings = on_relay(bot_settings, relay)
        queue(settings, run_id, a_mail("reply-1"), a_mail("reply-2"), a_mail("summary", kind="summary"))
        with session_scope(settings.database_url) as session:  # the replies are in backoff after an outage
            session.execute(update(OutboundMail).where(OutboundMail.kind == "patch-reply")
                            .values(next_attempt_at=utcnow() + dt.timedelta(hours=1), attempts=3))
        assert deliver_pending(settings)["sent"] == 0
        with session_scope(settings.database_url) as session:
            session.execute(update(OutboundMail).values(next_attempt_at=utcnow()))
        assert deliver_pending(settings)["sent"] == 3
        assert relay.message_ids() == ["<reply-1@seriesbot.test>", "<reply-2@seriesbot.test>",
                                       "<summary@seriesbot.test>"]


def test_a_summary_waits_for_replies_not_yet_written(bot_settings, run_id):
    with session_scope(bot_settings.database_url) as session:
        patch = session.scalar(select(Patch).limit(1))
        result = PatchResult(run_id=run_id, patch_id=patch.id, index=patch.index, verdict="ok", reported=False)
        session.add(result)
    with Relay() as relay:
        settings = on_relay(bot_settings, relay)
        queue(settings, run_id, a_mail("early-summary", kind="summary"))
        assert deliver_pending(settings)["sent"] == 0  # its patch's reply is still to be rendered
        with session_scope(settings.database_url) as session:
            session.execute(update(PatchResult).values(reported=True))
        assert deliver_pending(settings)["sent"] == 1


def test_a_summary_goes_once_its_replies_failed_for_good(bot_settings, run_id):
    with Relay(reply="550 5.7.1 no thanks") as relay:
        settings = on_relay(bot_settings, relay)
        queue(settings, run_id, a_mail("refused-reply"), a_mail("refused-summary", kind="summary"))
        counts = deliver_pending(settings)
        assert counts["failed"] == 2  # the reply (refused), then the summary it no longer holds back (refused)


def test_refused_for_good_is_shown_mailed_to_admins_and_retried(bot_settings, run_id, tmp_path, monkeypatch):
    with Relay(reply="550 5.7.1 not on this list") as relay:
        settings = on_relay(bot_settings, relay)
        queue(settings, run_id, a_mail("refused"))
        assert deliver_pending(settings)["failed"] == 1
    row = rows(settings)["refused"]
    assert row.state == "failed" and "550" in row.last_error and row.attempts == 1
    client = TestClient(create_app(settings))
    page = client.get("/projects").text
    assert 'id="undelivered"' in page and "Re: refused" in page and "seriesbot outbox retry" in page
    assert client.get("/api/projects").json()["undelivered"][0]["id"] == row.id
    series_page = client.get(f"/series/{row.series_id}").text
    assert "undelivered" in series_page and "550" in series_page
    with Relay() as relay:  # the relay takes it now: the admins' alert and, on request, the mail itself
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        config = tmp_path / "retry.toml"
        text = settings.config_path.read_text().replace("\nport = 3\n", f"\nport = {relay.port}\n")
        config.write_text(f'admin_addresses = ["{ADMIN}"]\n' + text)
        (tmp_path / "projects").symlink_to(settings.config_path.parent / "projects")
        assert main(["--config", str(config), "outbox", "send"]) == 0
        assert [rcpt for rcpt, _m in relay.received] == [[ADMIN]]
        assert main(["--config", str(config), "outbox", "list"]) == 0
        assert main(["--config", str(config), "outbox", "retry", "nothing-like-this"]) == 1
        assert main(["--config", str(config), "outbox", "retry", str(row.id)]) == 0
        assert relay.message_ids()[-1] == "<refused@seriesbot.test>"
    assert rows(settings)["refused"].state == "sent"
    assert outbox.list_mail(settings, "failed") == []
