"""parse_mail on golden inputs."""

from bot.ingest.parse import find_commands, parse_mail, split_patch
from tests.helpers import make_mail, patch_body

BOT = "seriesbot@seriesbot.test"


def test_patch_is_parsed_with_threading_and_trailers():
    raw = make_mail("[PATCH v2 1/2] domain: add foo", msgid="p1@x", in_reply_to="cover@x",
                    body=patch_body(message="Add foo.\n\nReviewed-by: Jane <jane@example.org>"))
    p = parse_mail(raw, bot_address=BOT)
    assert p.kind == "patch"
    assert p.message_id == "p1@x"
    assert p.in_reply_to == "cover@x" and p.references == ("cover@x",)
    assert p.list_id == "devel.demo.seriesbot.test"
    assert (p.subject_info.version, p.subject_info.counter, p.subject_info.total) == (2, 1, 2)
    assert p.diff.startswith("diff --git a/src/a.c b/src/a.c")
    assert "Add foo." in p.body and "diff --git" not in p.body
    assert {(t.name, t.value) for t in p.trailers} >= {("Reviewed-by", "Jane <jane@example.org>"),
                                                        ("Signed-off-by", "Ada Lovelace <ada@example.org>")}
    assert p.ignore_reason is None and p.problems == ()


def test_cover_letter_and_base_commit():
    raw = make_mail("[PATCH 0/3] domain: add reset API", msgid="c@x",
                    body="This adds it.\n\nAda (3):\n  x\n\nbase-commit: 0123456789abcdef0123456789abcdef01234567\n")
    p = parse_mail(raw, bot_address=BOT)
    assert p.kind == "cover"
    assert p.base_commit == "0123456789abcdef0123456789abcdef01234567"


def test_reply_with_review_and_command():
    raw = make_mail("Re: [PATCH 1/2] domain: add foo", msgid="r@x", in_reply_to="p1@x",
                    sender="Jane <jane@example.org>",
                    body="> quoted\n> seriesbot: cancel\n\nReviewed-by: Jane <jane@example.org>\nseriesbot: retest base=v1.0\n")
    p = parse_mail(raw, bot_address=BOT)
    assert p.kind == "reply"
    assert [(c.verb, c.args) for c in p.commands] == [("retest", ("base=v1.0",))]
    assert [(t.name, t.value) for t in p.trailers] == [("Reviewed-by", "Jane <jane@example.org>")]


def test_own_mail_and_auto_replies_are_ignored():
    own = make_mail("Re: [PATCH 1/2] x", msgid="o@x", sender=f"seriesbot <{BOT}>", in_reply_to="p1@x",
                    headers={"X-Seriesbot": "seriesbot"})
    assert parse_mail(own, bot_address=BOT).ignore_reason == "our own mail"
    auto = make_mail("Out of office", msgid="a@x", headers={"Auto-Submitted": "auto-replied"})
    assert parse_mail(auto, bot_address=BOT).ignore_reason.startswith("auto-submitted")
    bounce = make_mail("Undelivered", msgid="b@x", headers={"Return-Path": "<>"})
    assert "bounce" in parse_mail(bounce, bot_address=BOT).ignore_reason
    bulk = make_mail("newsletter", msgid="n@x", headers={"Precedence": "bulk"})
    assert parse_mail(bulk, bot_address=BOT).ignore_reason == "precedence bulk without a patch"


def test_missing_message_id_gets_a_stable_one():
    raw = b"From: a@b\nSubject: [PATCH] x\n\nhello\n"
    first, second = parse_mail(raw), parse_mail(raw)
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@missing-id.seriesbot")
    assert "no Message-ID" in first.problems


def test_split_patch_without_diff():
    assert split_patch("just words\n") == ("just words\n", "")


def test_commands_ignore_quotes_and_case():
    cmds = find_commands("> seriesbot: retest\nSeriesBot: HELP\n", "seriesbot:")
    assert [c.verb for c in cmds] == ["help"]


def test_raw_8bit_headers_are_read_as_utf8_or_latin1():
    utf8 = "Subject: [PATCH] \u202egnp.exe\nFrom: Zo\u00eb <z@x>\nMessage-ID: <u@x>\n\nhi\n".encode()
    latin1 = b"Subject: caf\xe9\nFrom: Ad\xe9 <a@x>\nMessage-ID: <l@x>\n\nhi\n"
    assert parse_mail(utf8).subject == "[PATCH] \u202egnp.exe" and parse_mail(utf8).from_name == "Zo\u00eb"
    assert parse_mail(latin1).subject == "caf\u00e9" and parse_mail(latin1).from_name == "Ad\u00e9"
