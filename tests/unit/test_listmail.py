"""Ingest on the exact mails a real Mailman 3 produced (tests/fixtures/mail/mailman3/): posts are
read as their authors wrote them, the list server's own mails are marked and never a patch."""

from __future__ import annotations

import email
import re
import subprocess
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ingest.listmail import author_copy, strip_footer, strip_prefix
from bot.ingest.parse import parse_mail

MAILMAN3 = Path(__file__).resolve().parent.parent / "fixtures" / "mail" / "mailman3"
BOT = "seriesbot@seriesbot.test"
LIST = "devel@demo.seriesbot.test"


def parsed(name: str, **kwargs):
    return parse_mail((MAILMAN3 / f"{name}.eml").read_bytes(), bot_address=BOT, **kwargs)


def test_a_patch_posted_through_the_list_is_the_authors_patch():
    p = parsed("post-patch")
    assert p.kind == "patch" and p.list_notice is None and p.ignore_reason is None
    assert (p.from_name, p.from_email) == ("Ada Lovelace", "ada@example.org")  # not "Ada Lovelace via Devel"
    assert p.munged_from == "Ada Lovelace via Devel <devel@demo.seriesbot.test>"
    assert p.subject == "[PATCH 1/1] test: Record the state reason on suspend and resume"
    assert p.subject_info.prefixes == ("PATCH", "1/1") and p.subject_info.counter == 1
    assert set(p.list_changes) == {"from-munged", "subject-prefix", "footer"}
    assert "mailing list" not in p.diff and "_______" not in p.diff and "unsubscribe" not in p.diff
    assert p.diff.rstrip().endswith("TEST_CHECK_ERROR(VIR_ERR_OPERATION_INVALID);")
    assert p.archived_at == "https://www.mail-archive.com/K6WC5EDNDQMGLTHZYAEVOTUCO5MDIBEI"
    assert p.list_id == "devel.demo.seriesbot.test"
    assert [str(t) for t in p.trailers] == ["Signed-off-by: Ada Lovelace <ada@example.org>"]


def test_a_review_reply_through_the_list_keeps_its_author_trailers_and_command():
    p = parsed("post-reply")
    assert p.kind == "reply" and p.ignore_reason is None  # "Precedence: list" is what every post carries
    assert p.from_email == "ada@example.org"
    assert p.subject == "Re: [PATCH 1/1] test: Record the state reason"  # "[Devel] Re: ..." in the mail
    assert p.subject_info.is_reply and p.in_reply_to == "fixture-patch-1@example.org"
    assert [str(t) for t in p.trailers] == ["Reviewed-by: Ada Lovelace <ada@example.org>"]
    assert [c.verb for c in p.commands] == ["retest"]


@pytest.mark.parametrize("name, notice", [
    ("confirm-join", "confirm-join"), ("confirm-leave", "confirm-leave"), ("welcome", "welcome"),
    ("goodbye", "goodbye"), ("probe", "probe"), ("disabled", "disabled"), ("moderation-hold", "moderation"),
    ("digest-mime", "digest"), ("digest-plain", "digest"),
])
def test_the_list_servers_own_mail_is_marked_and_never_a_patch_or_a_command(name, notice):
    p = parsed(name)
    assert p.list_notice == notice
    assert p.kind == "other" and p.commands == () and p.ignore_reason and notice in p.ignore_reason
    assert p.list_changes == ()


def test_a_plain_digest_carries_a_whole_patch_and_is_still_no_patch():
    raw = (MAILMAN3 / "digest-plain.eml").read_bytes()
    assert b"diff --git a/src/test/test_driver.c" in raw
    assert parsed("digest-plain").kind == "other"


def test_confirmation_tokens_come_from_the_confirm_address():
    join, leave = parsed("confirm-join"), parsed("confirm-leave")
    assert join.from_email == f"devel-confirm+{join.confirm_token}@demo.seriesbot.test"
    assert leave.from_email == f"devel-confirm+{leave.confirm_token}@demo.seriesbot.test"
    assert join.confirm_token != leave.confirm_token and len(join.confirm_token) == 40


def test_a_post_that_merely_mentions_a_probe_is_a_post():
    raw = (MAILMAN3 / "post-reply.eml").read_bytes().replace(
        b"Subject: [Devel] Re: [PATCH 1/1] test: Record the state reason",
        b"Subject: [Devel] Re: Devel mailing list probe message")
    assert parse_mail(raw, bot_address=BOT).list_notice is None


def test_a_confirmation_from_another_domain_is_no_notice_of_this_list():
    raw = re.sub(rb"(devel-confirm\+[0-9a-f]+)@demo\.seriesbot\.test", rb"\1@evil.example",
                 (MAILMAN3 / "confirm-join.eml").read_bytes())
    p = parse_mail(raw, bot_address=BOT, list_addresses=(LIST,))
    assert p.from_email.endswith("@evil.example") and p.list_notice is None


def test_the_authors_copy_applies_with_git_am_under_the_authors_name(tmp_path: Path):
    raw = (MAILMAN3 / "post-patch.eml").read_bytes()
    p = parse_mail(raw, bot_address=BOT)
    copy = author_copy(raw, changes=p.list_changes, author_name=p.from_name, author_email=p.from_email,
                       subject=p.subject)
    assert copy is not None
    msg = email.message_from_bytes(copy, policy=compat32)
    assert msg["From"] == "Ada Lovelace <ada@example.org>"
    assert msg["Subject"] == "[PATCH 1/1] test: Record the state reason on suspend and resume"
    assert msg["Message-ID"] == "<fixture-patch-1@example.org>" and b"mailing list --" not in copy
    # git mailinfo reads it as the author's own mail
    (tmp_path / "m.eml").write_bytes(copy)
    info = subprocess.run(["git", "mailinfo", str(tmp_path / "msg"), str(tmp_path / "patch")],
                          stdin=open(tmp_path / "m.eml", "rb"), capture_output=True, text=True, check=True)
    assert "Author: Ada Lovelace\nEmail: ada@example.org\n" in info.stdout
    assert "Devel mailing list" not in (tmp_path / "patch").read_text()
    assert author_copy(raw, changes=(), author_name="", author_email="", subject="") is None


def test_footer_in_a_part_of_its_own_is_dropped(tmp_path: Path):
    raw = (b"From: Ada via Devel <devel@demo.seriesbot.test>\nReply-To: Ada <ada@example.org>\n"
           b"Subject: [Devel] [PATCH] x\nMessage-ID: <m@x>\nList-Post: <mailto:devel@demo.seriesbot.test>\n"
           b"List-Id: <devel.demo.seriesbot.test>\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\n"
           b"Content-Transfer-Encoding: 8bit\n\nFix.\n\nSigned-off-by: Ada <ada@example.org>\n---\n"
           b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+\xc3\xa9\n"
           b"--b\nContent-Type: text/plain; charset=us-ascii\n\n"
           b"_______________________________________________\nDevel mailing list -- devel@demo.seriesbot.test\n"
           b"To unsubscribe send an email to devel-leave@demo.seriesbot.test\n--b--\n")
    p = parse_mail(raw, bot_address=BOT)
    assert p.kind == "patch" and p.from_email == "ada@example.org" and p.subject == "[PATCH] x"
    copy = author_copy(raw, changes=(*p.list_changes, "footer"), author_name=p.from_name,
                       author_email=p.from_email, subject=p.subject)
    assert copy is not None and b"mailing list" not in copy and "\u00e9".encode() in copy


def test_x_original_from_names_the_author_of_a_rewritten_from():
    raw = (b"From: 'Ada' via devel <devel@googlegroups.com>\nX-Original-From: Ada <ada@example.org>\n"
           b"Reply-To: devel@googlegroups.com\nSubject: Re: [PATCH] x\nMessage-ID: <g@x>\n"
           b"List-Id: <devel.googlegroups.com>\nList-Post: <mailto:devel@googlegroups.com>\n\nAcked-by: Ada <ada@example.org>\n")
    p = parse_mail(raw, bot_address=BOT)
    assert (p.from_name, p.from_email) == ("Ada", "ada@example.org") and "from-munged" in p.list_changes


def test_the_bots_own_post_munged_by_the_list_is_our_own():
    raw = (MAILMAN3 / "post-reply.eml").read_bytes().replace(
        b"Ada Lovelace via Devel", b"seriesbot via Devel").replace(b"Reply-To: Ada Lovelace <ada@example.org>",
                                                                   b"Reply-To: seriesbot <seriesbot@seriesbot.test>")
    p = parse_mail(raw, bot_address=BOT)
    assert p.from_email == BOT and p.ignore_reason == "our own mail"


@pytest.mark.parametrize("subject, expected", [
    ("[Devel] [PATCH v2 1/3] util: x", "[PATCH v2 1/3] util: x"),
    ("[Devel] Re: [PATCH 1/3] util: x", "Re: [PATCH 1/3] util: x"),
    ("Re: [devel] [PATCH 1/3] util: x", "Re: [PATCH 1/3] util: x"),
    ("[Devel 42] [PATCH] x", "[PATCH] x"),
    ("[libvirt PATCH v3 02/12] remote: add foo", "[libvirt PATCH v3 02/12] remote: add foo"),
    ("[PATCH] devel: [Devel] is in the title", "[PATCH] devel: [Devel] is in the title"),
])
def test_only_the_lists_own_prefix_is_removed(subject, expected):
    assert strip_prefix(subject, {"devel"})[0] == expected


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n_"),
                        max_size=60), max_size=30))
def test_text_without_a_footer_is_left_alone(lines):
    text = "\n".join(lines) + "\n"
    assert strip_footer(text) == (text, False)


@given(st.lists(st.text(alphabet="abc +-@/", max_size=40), min_size=1, max_size=30))
def test_a_footer_is_removed_whatever_comes_before_it(lines):
    body = "\n".join(lines).rstrip() + "\n"
    footer = ("_______________________________________________\nDevel mailing list -- devel@x.org\n"
              "To unsubscribe send an email to devel-leave@x.org\n")
    text, removed = strip_footer(body + footer)
    assert removed and text.rstrip() == body.rstrip()


def test_a_patch_ending_in_a_blank_context_line_keeps_it_and_applies(demo_series_repo, tmp_path: Path):
    """Mailman appends its footer right after the last diff line; here that line is " " (context
    for an empty line), which must not be taken for the footer's blank separator."""
    raw = (MAILMAN3 / "post-patch-blank-context.eml").read_bytes()
    p = parse_mail(raw, bot_address=BOT)
    assert p.diff.endswith("     return 0;\n }\n \n") and "footer" in p.list_changes
    copy = author_copy(raw, changes=p.list_changes, author_name=p.from_name, author_email=p.from_email,
                       subject=p.subject)
    work, _base, _head = demo_series_repo
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(work), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", "HEAD~1"], cwd=clone, check=True)
    (tmp_path / "4.eml").write_bytes(copy)
    env = {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["git", "am", "-3", str(tmp_path / "4.eml")], cwd=clone, capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    author = subprocess.run(["git", "log", "-1", "--format=%an <%ae>"], cwd=clone, capture_output=True, text=True)
    assert author.stdout.strip() == "Ada Lovelace <ada@example.org>"


def test_a_dmarc_wrapped_post_is_read_and_applied_as_the_inner_original():
    inner = (b"From: Ada Lovelace <ada@example.org>\nSubject: [PATCH] x: y\nMessage-ID: <w@x>\n"
             b"Date: Tue, 01 Dec 2026 10:00:00 +0000\n\nFix.\n\nSigned-off-by: Ada Lovelace <ada@example.org>\n---\n"
             b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
    raw = (b"From: Ada Lovelace via Devel <devel@demo.seriesbot.test>\nReply-To: Ada Lovelace <ada@example.org>\n"
           b"Subject: [Devel] [PATCH] x: y\nMessage-ID: <w2@x>\nList-Id: <devel.demo.seriesbot.test>\n"
           b"List-Post: <mailto:devel@demo.seriesbot.test>\nMIME-Version: 1.0\n"
           b"Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + inner)
    p = parse_mail(raw, bot_address=BOT)
    assert p.kind == "patch" and p.from_email == "ada@example.org" and p.subject == "[PATCH] x: y"
    copy = author_copy(raw, changes=p.list_changes, author_name=p.from_name, author_email=p.from_email,
                       subject=p.subject)
    assert copy is not None and copy.startswith(b"From: Ada Lovelace <ada@example.org>") and b"Devel" not in copy


def test_the_author_put_in_cc_when_replies_go_to_the_list():
    raw = (b"From: Ada Lovelace via Devel <devel@demo.seriesbot.test>\nReply-To: devel@demo.seriesbot.test\n"
           b"Cc: Bob <bob@example.org>, Ada Lovelace <ada@example.org>\nSubject: [Devel] Re: [PATCH] x\n"
           b"Message-ID: <c@x>\nIn-Reply-To: <p@x>\nList-Id: <devel.demo.seriesbot.test>\n"
           b"List-Post: <mailto:devel@demo.seriesbot.test>\n\nseriesbot: retest\n")
    p = parse_mail(raw, bot_address=BOT)
    assert p.from_email == "ada@example.org" and [c.verb for c in p.commands] == ["retest"]
