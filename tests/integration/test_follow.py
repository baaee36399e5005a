"""Following a real public-inbox (Debian's public-inbox 1.9, served by public-inbox-httpd on
loopback) over HTTP with git: cursors, dedupe against SMTP, new epochs, rewritten and missing
epochs, bad mail, history, proof of delivery, and a follower killed -9 mid-read."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.models import InboxEpoch, InboxFollow, Message, OutboundMail
from bot.db.session import session_scope
from bot.receive.follow import follow_project
from bot.receive.store import store_message
from tests.helpers import make_mail, wait_for
from tests.publicinbox import PublicInbox

pytestmark = pytest.mark.skipif(shutil.which("public-inbox-httpd") is None, reason="public-inbox not installed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_settings(request, bot_settings):
    """bot_settings, and the same on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield bot_settings
        return
    from bot.db.session import init_db
    from tests.stack import drop_postgres, fresh_postgres_url

    url, name = fresh_postgres_url()
    settings = replace(bot_settings, database_url=url)
    init_db(url)
    try:
        yield settings
    finally:
        from bot.db.session import get_engine

        get_engine(url).dispose()
        drop_postgres(name)


@pytest.fixture
def inbox(tmp_path):
    pi = PublicInbox(tmp_path / "pi").create()
    yield pi
    pi.stop()


def following(settings, url, **extra):
    project = replace(settings.project("demo"), inbox_url=url, **extra)
    settings = replace(settings, projects={**settings.projects, "demo": project})
    return project, settings


def rows(settings):
    with session_scope(settings.database_url) as s:
        return {m.message_id: (m.source, m.status, m.history) for m in s.scalars(select(Message))}


def cursor(settings, epoch):
    with session_scope(settings.database_url) as s:
        row = s.scalar(select(InboxEpoch).where(InboxEpoch.project == "demo", InboxEpoch.epoch == epoch))
        return None if row is None else (row.cursor, row.state, row.rewrites)


def mail(n, **kw):
    kw.setdefault("body", f"body {n}\n")
    return make_mail(f"[PATCH] demo: change {n}", msgid=f"m{n}@example.org", **kw)


def test_reads_new_commits_once_and_keeps_a_cursor_per_epoch(bot_settings, inbox):
    inbox.add(mail(1))
    url = inbox.serve()
    project, settings = following(bot_settings, url)
    follow_project(project, settings)  # following begins: what the archive had is history
    inbox.add(mail(2))
    inbox.add(mail(3))
    report = follow_project(project, settings)
    assert (report.commits, report.stored, report.duplicates) == (2, 2, 0)
    got = rows(settings)
    assert got["m1@example.org"][0] == "archive" and got["m1@example.org"][2] is True
    assert got["m2@example.org"][0] == "archive" and got["m2@example.org"][2] is False
    assert cursor(settings, 0) == (inbox.head(0), "ok", 0)
    again = follow_project(project, settings)
    assert (again.commits, again.stored) == (0, 0)
    with session_scope(settings.database_url) as s:
        follow = s.get(InboxFollow, "demo")
        assert follow.last_commit == inbox.head(0) and follow.last_epoch == 0


def test_mail_smtp_delivered_is_stored_once(any_db_settings, inbox):
    url = inbox.serve()
    project, settings = following(any_db_settings, url)
    follow_project(project, settings)
    raw = mail(7)
    assert store_message(raw, settings, source="smtp", enqueue=False).created
    inbox.add(raw)  # the same mail, as the archive has it (public-inbox adds its own headers)
    inbox.add(mail(8))  # and one SMTP never delivered
    report = follow_project(project, settings)
    assert (report.stored, report.duplicates) == (1, 1)
    got = rows(settings)
    assert got["m7@example.org"][0] == "smtp" and got["m8@example.org"][0] == "archive"
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 2
    # SMTP late, after the archive: stored once, and no longer counted as the archive's alone
    assert not store_message(mail(8), settings, source="smtp", enqueue=False).created
    assert rows(settings)["m8@example.org"][0] == "smtp"


def test_a_new_epoch_is_found_by_itself(bot_settings, inbox):
    inbox.add(mail(1))
    url = inbox.serve()
    project, settings = following(bot_settings, url)
    follow_project(project, settings)
    inbox.add_in_new_epoch(mail(2))
    inbox.add(mail(3))
    assert inbox.epochs() == [0, 1]
    report = follow_project(project, settings)
    assert report.epochs == [0, 1] and report.stored == 2
    assert cursor(settings, 1)[0] == inbox.head(1)
    assert {"m2@example.org", "m3@example.org"} <= set(rows(settings))


def test_a_rewritten_epoch_is_reported_and_read_again_without_duplicates(bot_settings, inbox):
    for n in (1, 2, 3):
        inbox.add(mail(n))
    url = inbox.serve()
    project, settings = following(bot_settings, url)
    settings = replace(settings, admin_addresses=("admin@seriesbot.test",))
    follow_project(project, settings)
    old_head = inbox.head(0)
    inbox.purge(mail(3))  # public-inbox-purge rewrites the epoch's history
    inbox.add(mail(4))
    report = follow_project(project, settings)
    assert any("rewritten" in p for p in report.problems)
    assert report.stored == 1 and report.duplicates >= 2  # 4 is new; 1 and 2 were read again, not stored
    cur, state, rewrites = cursor(settings, 0)
    assert cur == inbox.head(0) != old_head and rewrites == 1
    assert set(rows(settings)) == {f"m{n}@example.org" for n in (1, 2, 3, 4)}
    with session_scope(settings.database_url) as s:
        alert = s.scalar(select(OutboundMail).where(OutboundMail.kind == "admin-notice"))
        assert alert is not None and "rewritten" in alert.body and alert.to == ["admin@seriesbot.test"]
    assert follow_project(project, settings).problems == []  # told once


def test_a_missing_epoch_is_reported_and_the_cursor_kept(bot_settings, inbox, tmp_path):
    inbox.add(mail(1))
    inbox.add_in_new_epoch(mail(2))
    url = inbox.serve()
    project, settings = following(bot_settings, url)
    follow_project(project, settings)
    kept = cursor(settings, 1)[0]
    inbox.stop()
    shutil.move(inbox.epoch_dir(1), tmp_path / "away.git")  # the archive lost epoch 1
    inbox.add(mail(3))  # epoch 1 is gone: public-inbox writes to epoch 0 again
    url = inbox.serve()
    project, settings = following(settings, url)
    report = follow_project(project, settings)
    assert any("epoch 1" in p for p in report.problems)
    assert report.stored == 1 and "m3@example.org" in rows(settings)
    assert cursor(settings, 1) == (kept, "missing", 0)
    inbox.stop()
    shutil.rmtree(inbox.epoch_dir(1), ignore_errors=True)
    shutil.move(tmp_path / "away.git", inbox.epoch_dir(1))  # back: read on from the kept cursor
    inbox.add_in_new_epoch(mail(4))  # epoch 2 now
    url = inbox.serve()
    project, settings = following(settings, url)
    report = follow_project(project, settings)
    assert report.problems == [] and "m4@example.org" in rows(settings)
    assert cursor(settings, 1)[1] == "ok"


def test_mail_that_does_not_parse_and_huge_mail_are_stored_and_marked(bot_settings, inbox):
    url = inbox.serve()
    project, settings = following(bot_settings, url)
    settings = replace(settings, smtp_in=replace(settings.smtp_in, max_message_size=50_000))
    follow_project(project, settings)
    broken = (b"From: \xff\xfe<<<\nSubject: =?utf-8?q?=ZZ?= [PATCH 1/0]\nMessage-ID: <broken@example.org>\n"
              b"Content-Type: multipart/mixed; boundary=\n\n--\x00\x01 not a mime body\n")
    huge = mail(9, body="x" * 200_000 + "\n")
    inbox.add_many([broken, huge, mail(10)])
    report = follow_project(project, settings)
    assert report.stored == 3 and report.rejected == 1
    got = rows(settings)
    assert got["m9@example.org"][1] == "rejected"
    assert got["broken@example.org"][1] in ("rejected", "ignored", "error", "parsed")
    assert got["m10@example.org"][1] != "stored"  # ingested
    with session_scope(settings.database_url) as s:
        big = s.scalar(select(Message).where(Message.message_id == "m9@example.org"))
        assert "over the size limit" in big.reason and big.size <= 65536
    assert cursor(settings, 0)[0] == inbox.head(0)


def test_our_own_replies_in_the_archive_are_on_the_list(bot_settings, inbox):
    url = inbox.serve()
    project, settings = following(bot_settings, url)
    follow_project(project, settings)
    with session_scope(settings.database_url) as s:
        for n in (1, 2):
            s.add(OutboundMail(key=f"k{n}", kind="patch-reply", message_id=f"reply{n}@seriesbot.test",
                               subject="Re: x", body="ok", state="sent"))
    inbox.add(make_mail("Re: [PATCH] x", msgid="reply1@seriesbot.test", sender="seriesbot <seriesbot@seriesbot.test>"))
    report = follow_project(project, settings)
    assert report.on_list == 1
    with session_scope(settings.database_url) as s:
        seen = {o.message_id: o.on_list_at for o in s.scalars(select(OutboundMail))}
    assert seen["reply1@seriesbot.test"] is not None and seen["reply2@seriesbot.test"] is None


def test_a_follower_killed_mid_read_resumes_without_loss_or_duplicates(any_db_settings, inbox):
    bot_settings = any_db_settings
    total = 400
    url = inbox.serve()
    config = bot_settings.config_path
    (config.parent / "projects" / "demo.toml").write_text(
        (config.parent / "projects" / "demo.toml").read_text().replace(
            'incomplete_after', f'inbox_url = "{url}"\ninbox_poll = 0.2\nincomplete_after', 1))
    env = {**os.environ, "SERIESBOT_CONFIG": str(config), "DATABASE_URL": bot_settings.database_url}
    argv = [sys.executable, "-m", "bot.cli", "follow", "--project", "demo", "--batch", "50"]
    first = subprocess.run([*argv, "--once"], env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr
    # newer than following: each of these is ingested (assembled), not just stored
    inbox.add_many([mail(n, date=dt.datetime(2026, 3, 1, tzinfo=dt.UTC)) for n in range(total)])

    def count() -> int:
        with session_scope(bot_settings.database_url) as s:
            return s.scalar(select(func.count()).select_from(Message)) or 0

    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: count() >= 75, 120, interval=0.02, what="the follower half way")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    mid = count()
    assert 0 < mid < total, "killed too late to prove anything"
    cur = cursor(bot_settings, 0)[0]
    assert cur is not None and cur != inbox.head(0)
    again = subprocess.run([*argv, "--once"], env=env, cwd=ROOT, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert count() == total
    assert set(rows(bot_settings)) == {f"m{n}@example.org" for n in range(total)}
    assert cursor(bot_settings, 0)[0] == inbox.head(0)


def test_what_the_archive_held_when_following_began_is_history(bot_settings, inbox):
    from tests.ingest_driver import all_series
    from tests.integration.test_assembly import series_mails

    inbox.add_many(series_mails("old", 2))
    url = inbox.serve()
    project, settings = following(bot_settings, url)
    report = follow_project(project, settings)
    assert report.history == report.stored == 3
    inbox.add_many(series_mails("new", 2, title="domain: add bar"))
    report = follow_project(project, settings)
    assert report.stored == 3 and report.history == 0
    by_title = {s["title"]: s for s in all_series(settings)}
    old, new = by_title["domain: add foo"], by_title["domain: add bar"]
    assert old["indexes"] == new["indexes"] == [1, 2]
    assert old["runs"] == []  # history: assembled, never run
    assert [t for t, _ in new["runs"]] == ["new-series"]


def test_the_dashboard_shows_the_archive_and_our_mails_on_the_list(bot_settings, inbox):
    from fastapi.testclient import TestClient

    from bot.db.models import Series
    from bot.web.app import create_app
    from tests.integration.test_assembly import series_mails

    url = inbox.serve()
    project, settings = following(bot_settings, url)
    follow_project(project, settings)
    inbox.add_many(series_mails("s", 1))
    follow_project(project, settings)
    with session_scope(settings.database_url) as s:
        series_id = s.scalar(select(Series.id))
        for n in (1, 2):
            s.add(OutboundMail(key=f"k{n}", kind="patch-reply", series_id=series_id, message_id=f"r{n}@seriesbot.test",
                               subject=f"Re: reply {n}", body="ok", state="sent"))
    inbox.add(make_mail("Re: [PATCH] x", msgid="r1@seriesbot.test", sender="seriesbot <seriesbot@seriesbot.test>"))
    follow_project(project, settings)
    client = TestClient(create_app(settings))
    page = client.get("/projects").text
    assert inbox.head(0)[:12] in page and "Public-inbox archives followed" in page
    assert '<td class="archive-only">3</td>' in page  # the series' two mails and our reply: SMTP had none
    assert '<td class="archive-on-list">1</td>' in page
    series_page = client.get(f"/series/{series_id}").text
    assert series_page.count("on the list</span>") == 1
    api = client.get(f"/api/series/{series_id}").json()
    assert sorted(bool(m["on_list_at"]) for m in api["mails"]) == [False, True]
