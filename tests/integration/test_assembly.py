"""Series assembly as real lists produce it, through store_message + ingest on a real SQLite
database: threading styles, order, duplicates, versions, trailers, routing, mail that is not ours."""

from __future__ import annotations

import datetime as dt

from bot.db.models import Series, utcnow
from bot.db.session import session_scope
from bot.reconcile import reconcile
from tests.helpers import make_mail, patch_body
from tests.ingest_driver import all_series, deliver, message_row

LIST = "devel.demo.seriesbot.test"


def series_mails(tag: str, n: int = 3, *, version: int = 1, cover: bool = True, deep: bool = False,
                 title: str = "domain: add foo", sender: str = "Ada Lovelace <ada@example.org>",
                 cover_reply_to: str | None = None, cover_body: str = "Blurb.\n", prefix: str = "PATCH",
                 thread: bool = True) -> list[bytes]:
    v = f" v{version}" if version > 1 else ""
    mails = []
    cover_id = f"{tag}-0@x"
    if cover:
        refs = [cover_reply_to] if cover_reply_to else []
        mails.append(make_mail(f"[{prefix}{v} 0/{n}] {title}", msgid=cover_id, sender=sender,
                               in_reply_to=cover_reply_to, references=refs, body=cover_body))
    previous = cover_id if cover else None
    for i in range(1, n + 1):
        parent = previous if thread else None
        refs = ([cover_reply_to] if cover_reply_to else []) + ([cover_id] if cover else [])
        if deep and i > 1:
            refs.append(f"{tag}-{i - 1}@x")
            parent = f"{tag}-{i - 1}@x"
        mails.append(make_mail(f"[{prefix}{v} {i}/{n}] part {i} of {title}", msgid=f"{tag}-{i}@x", sender=sender,
                               in_reply_to=parent, references=refs if thread else [],
                               body=patch_body(path=f"src/f{i}.c", message=f"Part {i}.")))
        if not cover and not deep:
            previous = f"{tag}-1@x"
    return mails


def test_shallow_threading_with_cover(bot_settings):
    for raw in series_mails("s"):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert (s["title"], s["total"], s["indexes"], s["state"], s["cover"]) == ("domain: add foo", 3, [1, 2, 3],
                                                                              "queued", "s-0@x")
    assert s["runs"] == [("new-series", "queued")]


def test_deep_threading(bot_settings):
    for raw in series_mails("d", deep=True):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2, 3] and s["state"] == "queued"


def test_no_cover_letter_patches_reply_to_patch_one(bot_settings):
    for raw in series_mails("n", cover=False):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2, 3] and s["cover"] is None and s["title"] == "part 1 of domain: add foo"


def test_unthreaded_series(bot_settings):
    for raw in series_mails("u", cover=False, thread=False):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2, 3]


def test_out_of_order_and_twice(bot_settings):
    mails = series_mails("o")
    for raw in [mails[3], mails[1], mails[0], mails[3], mails[2]]:
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2, 3] and s["cover"] == "o-0@x" and len(s["runs"]) == 1


def test_single_patch(bot_settings):
    deliver(bot_settings, make_mail("[PATCH] qemu: fix a leak", msgid="single@x", body=patch_body()))
    [s] = all_series(bot_settings)
    assert (s["total"], s["indexes"], s["state"], s["title"]) == (1, [1], "queued", "qemu: fix a leak")


def test_binary_and_rename_only_patches_are_patches(bot_settings):
    rename = "Rename.\n\nSigned-off-by: Ada Lovelace <ada@example.org>\n---\n" \
             "diff --git a/old.c b/new.c\nsimilarity index 100%\nrename from old.c\nrename to new.c\n"
    binary = "Logo.\n\nSigned-off-by: Ada Lovelace <ada@example.org>\n---\n" \
             "diff --git a/logo.png b/logo.png\nindex 1111111..2222222 100644\nGIT binary patch\nliteral 5\n" \
             "Mcmb=p;Nsu|00NQ#qW}N^\n\nliteral 0\nHcmV?d00001\n\n"
    deliver(bot_settings, make_mail("[PATCH 1/2] move", msgid="r1@x", body=rename))
    deliver(bot_settings, make_mail("[PATCH 2/2] logo", msgid="r2@x", in_reply_to="r1@x", body=binary))
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2]


def test_incomplete_series_is_marked_after_the_wait_and_not_tested(bot_settings):
    mails = series_mails("i", n=4)
    for raw in mails[:3] + mails[4:]:
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["state"] == "partial" and s["missing"] == [3] and s["runs"] == []
    with session_scope(bot_settings.database_url) as session:
        session.get(Series, s["id"]).last_message_at = utcnow() - dt.timedelta(days=1)
    reconcile(bot_settings, send_mail=False)
    [s] = all_series(bot_settings)
    assert s["state"] == "incomplete" and s["missing"] == [3] and s["runs"] == []


def test_v2_supersedes_v1_and_cancels_its_run(bot_settings):
    for raw in series_mails("v1"):
        deliver(bot_settings, raw)
    for raw in series_mails("v2", version=2):
        deliver(bot_settings, raw)
    v1, v2 = all_series(bot_settings)
    assert v1["superseded_by"] == v2["id"] and v2["supersedes"] == v1["id"]
    assert v1["state"] == "superseded" and v1["runs"] == [("new-series", "cancelled")]
    assert v2["runs"] == [("new-series", "queued")]


def test_v2_threaded_under_v1_cover_with_a_new_title(bot_settings):
    for raw in series_mails("t1"):
        deliver(bot_settings, raw)
    for raw in series_mails("t2", version=2, title="domain: add foo and bar", cover_reply_to="t1-0@x"):
        deliver(bot_settings, raw)
    v1, v2 = all_series(bot_settings)
    assert v2["indexes"] == [1, 2, 3] and v1["indexes"] == [1, 2, 3]
    assert v1["superseded_by"] == v2["id"]


def test_supersedes_line_links_renamed_series(bot_settings):
    for raw in series_mails("a1", title="first name"):
        deliver(bot_settings, raw)
    for raw in series_mails("a2", version=2, title="another name", cover_body="Blurb.\n\nSupersedes: <a1-0@x>\n"):
        deliver(bot_settings, raw)
    v1, v2 = all_series(bot_settings)
    assert v1["superseded_by"] == v2["id"]


def test_single_patch_resend_is_a_new_version(bot_settings):
    deliver(bot_settings, make_mail("[PATCH] util: fix", msgid="x1@x", body=patch_body()))
    deliver(bot_settings, make_mail("[PATCH RESEND] util: fix", msgid="x2@x", body=patch_body()))
    first, second = all_series(bot_settings)
    assert first["superseded_by"] == second["id"] and first["state"] == "superseded"


def test_reply_trailers_are_collected_per_patch_and_from_the_cover(bot_settings):
    for raw in series_mails("r"):
        deliver(bot_settings, raw)
    deliver(bot_settings, make_mail("Re: [PATCH 2/3] part 2", msgid="rev@x", in_reply_to="r-2@x",
                                    sender="Jane <jane@example.org>", date=dt.datetime(2026, 1, 3, tzinfo=dt.UTC),
                                    body="> quoted\n\nReviewed-by: Jane <jane@example.org>\n"))
    # trailers are in the order the replies were written (their Date), not the order they arrived
    deliver(bot_settings, make_mail("Re: [PATCH 0/3] domain: add foo", msgid="ack@x", in_reply_to="r-0@x",
                                    sender="Bob <bob@example.org>", date=dt.datetime(2026, 1, 4, tzinfo=dt.UTC),
                                    body="Series\nAcked-by: Bob <bob@example.org>\n"))
    pk, status = deliver(bot_settings, make_mail("Re: [PATCH 1/3] part 1", msgid="talk@x", in_reply_to="r-1@x",
                                                 sender="Bob <bob@example.org>", body="Why not use g_new?\n"))
    [s] = all_series(bot_settings)
    assert s["trailers"][2] == [("Reviewed-by", "Jane <jane@example.org>"), ("Acked-by", "Bob <bob@example.org>")]
    assert s["trailers"][1] == [("Acked-by", "Bob <bob@example.org>")]
    assert status == "parsed" and message_row(bot_settings, pk)["series_id"] == s["id"]


def test_not_for_us(bot_settings):
    own = make_mail("Re: [PATCH 1/2] x", msgid="own@x", sender="seriesbot <seriesbot@seriesbot.test>",
                    in_reply_to="p@x", headers={"X-Seriesbot": "seriesbot"})
    auto = make_mail("Automatic reply: [PATCH 1/2] x", msgid="auto@x", headers={"Auto-Submitted": "auto-replied"})
    loop = make_mail("[PATCH] loop", msgid="loop@x", headers={"X-Loop": "seriesbot@seriesbot.test"},
                     body=patch_body())
    bounce = make_mail("Undelivered Mail", msgid="bounce@x", headers={"Return-Path": "<>"})
    unknown = make_mail("[PATCH] elsewhere", msgid="unk@x", list_id="other.list.example", body=patch_body())
    for raw, why in [(own, "our own"), (auto, "auto-submitted"), (loop, "X-Loop"), (bounce, "bounce"),
                     (unknown, "no configured project")]:
        pk, status = deliver(bot_settings, raw)
        row = message_row(bot_settings, pk)
        assert status == "ignored" and why in row["reason"] and row["raw"] == raw
    assert all_series(bot_settings) == []


def test_routed_by_list_id_to_each_project(bot_settings):
    deliver(bot_settings, make_mail("[PATCH] demo fix", msgid="d@x", body=patch_body()))
    deliver(bot_settings, make_mail("[PATCH] other fix", msgid="o@x", list_id="devel.other.test", body=patch_body()),
            to="devel@other.test")
    assert sorted(s["project"] for s in all_series(bot_settings)) == ["demo", "other"]


def test_base_commit_and_based_on_are_recorded(bot_settings):
    body = "Blurb.\n\nBased-on: <dep-0@x>\n\nbase-commit: 3763256d1760f1c6c1bbe604a421c4d7dd31c945\n"
    for raw in series_mails("b", cover_body=body):
        deliver(bot_settings, raw)
    [s] = all_series(bot_settings)
    assert s["base_commit"] == "3763256d1760f1c6c1bbe604a421c4d7dd31c945" and s["based_on"] == ["dep-0@x"]


def test_same_message_through_two_lists_is_one_series(bot_settings):
    mails = series_mails("x", n=2)
    for raw in mails:
        deliver(bot_settings, raw)
    # the list server of another project delivers the same mails (same Message-IDs) again
    for raw in mails:
        copy = raw.replace(b"<devel.demo.seriesbot.test>", b"<devel.other.test>")
        pk, status = deliver(bot_settings, copy, to="devel@other.test")
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2] and s["project"] == "demo" and len(s["runs"]) == 1
