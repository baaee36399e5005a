"""The list's public-inbox archive as the bot's inlet, end to end: a real public-inbox (1.9)
served by public-inbox-httpd, the bot's real processes (its light worker follows the archive over
HTTP with git), and the relay standing in for the list, whose mail the test files into the archive
as the list's archiver would. Also on Redis + PostgreSQL."""

from __future__ import annotations

import shutil
import smtplib
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db.models import InboxFollow, Message, OutboundMail, Run
from bot.db.session import session_scope
from bot.settings import load_settings
from tests.e2e.test_end_to_end import _redis_url
from tests.fixtures_demo import demo_mails
from tests.helpers import wait_for
from tests.publicinbox import PublicInbox
from tests.stack import Stack, drop_postgres, fresh_postgres_url, make_stack

pytestmark = pytest.mark.skipif(shutil.which("public-inbox-httpd") is None, reason="public-inbox not installed")


def _follow(stack: Stack, url: str) -> None:
    """The demo project follows the archive (top-level keys go before the project's tables)."""
    path = stack.settings.config_path.parent / "projects" / "demo.toml"
    path.write_text(path.read_text().replace("[build]", f'inbox_url = "{url}"\ninbox_poll = 0.5\n\n[build]', 1))
    stack.settings = load_settings(stack.settings.config_path, env=stack.env)


@pytest.fixture(params=["embedded", "redis+postgres"])
def setup(request, tmp_path: Path):
    inbox = PublicInbox(tmp_path / "pi", address="devel@demo.seriesbot.test").create()
    url = inbox.serve()
    pg_name = None
    if request.param == "embedded":
        stack = make_stack(tmp_path / "bot", echo=False)
    else:
        db, pg_name = fresh_postgres_url()
        stack = make_stack(tmp_path / "bot", database_url=db, broker_url=_redis_url(), echo=False)
    _follow(stack, url)
    try:
        with stack.running(request):
            yield stack, inbox
    finally:
        inbox.stop()
        if pg_name:
            drop_postgres(pg_name)


def _count(stack: Stack, model, *where) -> int:
    with session_scope(stack.settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_a_series_posted_to_the_archive_in_pieces_across_a_restart(setup):
    stack, inbox = setup
    mails = demo_mails("pi")
    # the follower's first round: following has begun (the archive was empty: no history)
    wait_for(lambda: _count(stack, InboxFollow, InboxFollow.begun.is_(True)), 60,
             what=f"following begun\n{stack.logs()}")
    # the cover letter reaches the bot both by SMTP and through the archive: stored once
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
        smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], mails[0])
    inbox.add(mails[0])
    inbox.add(mails[1])
    wait_for(lambda: _count(stack, Message, Message.message_id == "pi-1@example.org"), 60,
             what=f"patch 1 read from the archive\n{stack.logs()}")
    # the follower (in the light worker) restarts between the pieces
    stack.stop("light")
    for mail in mails[2:]:
        inbox.add(mail)
    stack.start("light", "worker", "--queues", "light", "--pool", "threads", "--concurrency", "4")
    started = time.monotonic()
    replies = stack.wait_replies(len(mails), timeout=300)  # one per patch and the summary
    print(f"\nFIGURE follow e2e: last piece to last reply {time.monotonic() - started:.1f} s")
    time.sleep(3)
    replies = stack.replies()
    in_reply_to = sorted(m["In-Reply-To"].strip("<>") for m in replies)
    assert in_reply_to == sorted(f"pi-{i}@example.org" for i in range(len(mails))), in_reply_to
    assert _count(stack, Run) == 1
    assert _count(stack, Message, Message.message_id == "pi-0@example.org") == 1
    assert _count(stack, Message, Message.source == "archive") == len(mails) - 1  # SMTP had the cover
    # the list's archiver files the bot's replies: the follower sees them there, proof of delivery
    for reply in replies:
        inbox.add(reply.as_bytes())
    wait_for(lambda: _count(stack, OutboundMail, OutboundMail.on_list_at.is_not(None)) == len(mails), 60,
             what=f"our replies on the list\n{stack.logs()}")
    series_id = stack.api("/api/series")["series"][0]["id"]
    assert all(m["on_list_at"] for m in stack.api(f"/api/series/{series_id}")["mails"])
    assert len(stack.replies()) == len(mails) and _count(stack, Run) == 1  # our own mail started nothing
