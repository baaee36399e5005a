"""The bot's whole life on a real GNU Mailman 3 list (tests/mailman3.py): subscribe by mail, a series
posted with git send-email through the list, replies through the list to every member, commands
through the list, the list's prefix, footer and DMARC From munging on, bounces that disable the
bot's delivery (the admins are told), and leaving the list. Mailman's outgoing SMTP and the bot's
relay point at one local MTA that hands list mail to Mailman's LMTP, the bot's to its SMTP port and
keeps the rest in an mbox, so every mail is counted.

Marked `mailman` (run alone with `pytest -m mailman`); `make test` runs it."""

from __future__ import annotations

import collections
import os
import smtplib
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models import CommandRow, Message, OutboundMail, PatchResult, Run, Series
from bot.db.session import session_scope
from bot.demo.upstream import series_files
from bot.settings import load_settings
from tests.e2e.test_end_to_end import EXPECTED, _with_message_ids
from tests.helpers import free_port, make_mail, wait_for
from tests.mailman3 import MailmanServer, MTAState, start_mta
from tests.stack import ROOT, Stack, git_send_email, write_config

# about 2 minutes on a quiet 2-core machine, Mailman start included; more on a loaded one
pytestmark = [pytest.mark.mailman, pytest.mark.timeout(900)]

LIST = "devel@demo.seriesbot.test"
LIST_ID = "devel.demo.seriesbot.test"
BOT = "seriesbot@seriesbot.test"
ADA = "ada@example.org"
MAINTAINER = "maintainer@demo.seriesbot.test"  # a maintainer in config/projects/demo.toml
CAROL = "carol@example.org"  # a member, neither author nor maintainer
MALLORY = "mallory@example.net"  # not a member
ADMIN = "admin@seriesbot.test"
MEMBERS = (ADA, MAINTAINER, CAROL)


def _rows(settings, model, *where):
    with session_scope(settings.database_url) as session:
        return [r for r in session.scalars(select(model).where(*where))]


def _message(settings, msgid: str) -> Message | None:
    rows = _rows(settings, Message, Message.message_id == msgid)
    return rows[0] if rows else None


def _bot_posts(state: MTAState, rcpt: str, route: str) -> list:
    return [d for d in state.received(route) if d.rcpt == rcpt and d.message.get("X-Seriesbot")]


def _post(stack: Stack, sender: str, raw: bytes) -> None:
    """A mail to the list through the site's MTA, as a mail client sends it."""
    with smtplib.SMTP("127.0.0.1", stack.relay_port, timeout=60) as smtp:
        smtp.sendmail(sender, [LIST], raw.replace(b"\n", b"\r\n"))


def _seriesbot(stack: Stack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], env=stack.env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def world(tmp_path: Path, request):
    smtp_port, web_port, mta_port = free_port(), free_port(), free_port()
    config = write_config(tmp_path, smtp_port=smtp_port, web_port=web_port, relay_port=mta_port)
    config.write_text(f'admin_addresses = ["{ADMIN}"]\n' + config.read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    env["SERIESBOT_CONFIG"] = str(config)
    settings = load_settings(config, env=env)
    state = MTAState({LIST}, BOT, tmp_path / "others.mbox")
    mailman = MailmanServer(tmp_path / "mailman", smtp_port=mta_port, domain="demo.seriesbot.test")
    mta = start_mta(state, mta_port, mailman.lmtp_port, smtp_port)
    stack = Stack(tmp_path, env, settings, state, mta)  # type: ignore[arg-type]
    started = threading.Thread(target=mailman.start)  # Mailman and the bot start side by side
    started.start()
    try:
        with stack.running(request):
            started.join()
            yield stack, mailman, state
            if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
                print(mailman.logs())
    finally:
        started.join()
        mailman.stop()


def test_the_bot_on_a_real_mailman3_list(world, tmp_path: Path):
    stack, mailman, state = world
    settings = stack.settings
    # the list as libvirt's would be on Mailman 3's defaults ("[Devel] " prefix, the default footer),
    # with DMARC From: munging for every post, and one bounce enough to act on
    list_id = mailman.create_list(LIST, dmarc_mitigate_action="munge_from", dmarc_mitigate_unconditionally=True,
                                  bounce_score_threshold=1)
    assert list_id == LIST_ID
    for address, name in ((ADA, "Ada Lovelace"), (MAINTAINER, "Maintainer"), (CAROL, "Carol")):
        mailman.add_member(list_id, address, name)
    mailman.add_member(list_id, "owner@demo.seriesbot.test", role="owner")
    # the bot Cc's the author; Ada, as many list members do, wants no list copy of mail that names her
    mailman.call("PATCH", f"/members/{mailman.members(list_id)[ADA]['member_id']}/preferences",
                 receive_list_copy=False)

    # 1. subscribe by mail: Mailman's confirmation is answered, the bot becomes a member
    out = _seriesbot(stack, "subscribe", "demo")
    assert "subscribe request to devel-join@demo.seriesbot.test" in out
    wait_for(lambda: mailman.is_member(list_id, BOT), 120, what="the bot a member (REST)")
    welcome = wait_for(lambda: _rows(settings, Message, Message.list_notice == "welcome"), 60, what="welcome")
    assert welcome[0].status == "ignored"
    [confirm] = _rows(settings, Message, Message.list_notice == "confirm-join")
    assert confirm.status == "parsed" and "answered" in confirm.reason

    # 2. a series through the list; replies through the list to every member
    files = _with_message_ids(series_files(), tmp_path / "series", "mm")
    git_send_email(files, stack.relay_port, to=LIST, cwd=tmp_path)
    total = len(files) - 1
    wait_for(lambda: all(len(_bot_posts(state, m, "mbox")) >= total + 1 for m in MEMBERS), 300,
             what=f"{total + 1} bot mails to every member\n{stack.logs()}")
    [series] = _rows(settings, Series)
    assert series.author_email == ADA and series.total == total and "[Devel]" not in series.title
    [run1] = _rows(settings, Run)
    wait_for(lambda: _rows(settings, Run, Run.id == run1.id, Run.reported.is_(True)), 60, what="run 1 reported")
    results = _rows(settings, PatchResult, PatchResult.run_id == run1.id)
    # the same verdicts as without a list server: the footer is no part of any patch
    assert {r.index: (r.apply, r.build) for r in results} == {
        p["index"]: (p["apply"], p["build"]) for p in EXPECTED["patches"]}
    author = subprocess.run(["git", "-C", str(settings.data_dir / "published" / "demo.git"), "log", "-1",
                             "--format=%an <%ae>", _rows(settings, Run, Run.id == run1.id)[0].branch],
                            capture_output=True, text=True)
    if author.returncode == 0:
        assert author.stdout.strip() == f"Ada Lovelace <{ADA}>"  # not "Ada Lovelace via Devel <devel@...>"
    to_list = _bot_posts(state, LIST, "mailman")
    assert len(to_list) == total + 1  # one reply per patch, one summary: none held, none twice
    replied_to = collections.Counter(m.message["In-Reply-To"].strip("<>") for m in to_list)
    assert replied_to == collections.Counter([f"mm-{i}@example.org" for i in range(total + 1)])
    for member in MEMBERS:  # each gets each mail once: Ada the bot's Cc, the others the list's copy
        got = collections.Counter(d.message["Message-ID"] for d in _bot_posts(state, member, "mbox"))
        assert len(got) == total + 1 and set(got.values()) == {1}, (member, got)
        via_list = [d for d in _bot_posts(state, member, "mbox") if d.message.get("List-Id")]
        assert len(via_list) == (0 if member == ADA else total + 1)
        assert all("via Devel" in str(d.message["From"]) for d in via_list)
    back = _bot_posts(state, BOT, "bot")
    assert len(back) == total + 1  # the list delivers the bot's own mail back to it ...
    for d in back:  # ... which ignores every one
        row = wait_for(lambda d=d: _message(settings, d.message["Message-ID"].strip().strip("<>")), 30)
        wait_for(lambda d=d: _message(settings, d.message["Message-ID"].strip().strip("<>")).status != "stored", 30)
        assert _message(settings, row.message_id).status == "ignored", row.reason

    # 3. commands through the list: a maintainer's retest runs; a member's and a non-member's are refused
    patch1 = "mm-1@example.org"

    def command(sender: str, msgid: str) -> bytes:
        return make_mail("Re: [PATCH 1/4] domain: Introduce virDomainReset API", msgid=msgid, sender=sender,
                         body="seriesbot: retest\n", in_reply_to=patch1, list_id=None,
                         headers={"To": LIST})

    for name, address, msgid in (("Maintainer", MAINTAINER, "cmd-maint@x"), ("Carol", CAROL, "cmd-carol@x"),
                                 ("Mallory", MALLORY, "cmd-mallory@x")):
        _post(stack, address, command(f"{name} <{address}>", msgid))
    held = wait_for(lambda: mailman.held(list_id), 60, what="the non-member's command held")
    assert _message(settings, "cmd-mallory@x") is None  # held by Mailman: the bot has not seen it
    wait_for(lambda: any(d.rcpt == MALLORY and "awaits moderator" in str(d.message["Subject"])
                         for d in state.received("mbox")), 60, what="Mailman's hold notice to the non-member")
    mailman.moderate(list_id, held[0]["request_id"], "accept")
    commands = wait_for(lambda: (lambda c: c if len(c) == 3 else None)(_rows(settings, CommandRow)), 120,
                        what="three commands")
    by_sender = {c.sender: c for c in commands}
    assert by_sender[MAINTAINER].allowed and by_sender[MAINTAINER].run_id  # the original author, not devel@
    assert not by_sender[CAROL].allowed and not by_sender[MALLORY].allowed
    wait_for(lambda: any(d.rcpt == CAROL and not d.message.get("List-Id") and d.message.get("X-Seriesbot")
                         for d in state.received("mbox")), 60, what="the refusal, to Carol only")
    retest = _rows(settings, Run, Run.id == by_sender[MAINTAINER].run_id)[0]
    assert retest.trigger == "retest" and retest.requested_by == MAINTAINER
    wait_for(lambda: _rows(settings, Run, Run.id == retest.id, Run.reported.is_(True)), 240, what="the retest run")

    # 5. bounces: the bot's mail refused, the probe bounces too: Mailman disables the bot's delivery.
    # First every mail of the bot to the list has come back to it, so the next to the bot is the post.
    def all_back() -> bool:
        sent = [m for m in _rows(settings, OutboundMail) if LIST in m.to]
        return len(sent) == len(_bot_posts(state, BOT, "bot"))

    wait_for(all_back, 120, what="the bot's mails back through the list")
    with state.lock:
        state.bounce_bot[:] = ["rcpt", "data"]
    raw = make_mail("Thanks", msgid="thanks@x", sender=f"Ada Lovelace <{ADA}>", body="Thanks!\n", list_id=None,
                    headers={"To": LIST})
    _post(stack, ADA, raw)
    wait_for(lambda: _rows(settings, Message, Message.list_notice == "probe"), 120, what="the probe")
    wait_for(lambda: mailman.member_preferences(mailman.members(list_id)[BOT]).get("delivery_status") == "by_bounces",
             120, what="the bot's delivery disabled")
    wait_for(lambda: _rows(settings, Message, Message.list_notice == "disabled"), 120, what="the disabled notice")
    told = wait_for(lambda: [d for d in state.received("mbox") if d.rcpt == ADMIN], 60, what="the admins told")
    assert "disabled" in str(told[0].message["Subject"])
    notices = _rows(settings, Message, Message.list_notice.is_not(None))
    assert all(n.status in ("ignored", "parsed") and n.series_id is None for n in notices)
    mailman.call("PATCH", f"/members/{mailman.members(list_id)[BOT]['member_id']}/preferences",
                 delivery_status="enabled")

    # 6. leave the same way
    out = _seriesbot(stack, "unsubscribe", "demo")
    assert "unsubscribe request to devel-leave@demo.seriesbot.test" in out
    wait_for(lambda: mailman.is_member(list_id, BOT) is False, 120, what="the bot no longer a member")
    wait_for(lambda: _rows(settings, Message, Message.list_notice == "goodbye"), 60, what="goodbye")
    [leave] = _rows(settings, Message, Message.list_notice == "confirm-leave")
    assert leave.status == "parsed"
    # the bot processed none of its own mails, and the list server's went to no series
    own = [m for m in _rows(settings, Message) if b"X-Seriesbot:" in m.raw]
    assert own and all(m.status == "ignored" for m in own)
    kinds = collections.Counter(m.kind for m in _rows(settings, OutboundMail))
    assert kinds["subscribe"] == 1 and kinds["unsubscribe"] == 1 and kinds["subscribe-confirm"] == 2
