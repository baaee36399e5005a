"""bot.ingest.grouping and bot.ingest.versions on golden shapes: each shape of the issue by name, and
a hypothesis property that the grouping of a set never depends on the order it is given in."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest.grouping import MailFacts, group, head_of
from bot.ingest.versions import VersionView, link_versions

T0 = dt.datetime(2026, 3, 1, 9, 0)


def patch(msgid: str, counter: int, total: int, chain: tuple[str, ...] = (), *, author: str = "ada@x", v: int = 1,
          minute: int = 0, title: str = "", resend: bool = False) -> MailFacts:
    return MailFacts(msgid=msgid, kind="patch", author=author, version=v, counter=counter, total=total,
                     title=title or f"part {counter}", chain=chain, sent_at=T0 + dt.timedelta(minutes=minute),
                     is_resend=resend)


def cover(msgid: str, total: int, chain: tuple[str, ...] = (), *, author: str = "ada@x", v: int = 1,
          title: str = "the series") -> MailFacts:
    return MailFacts(msgid=msgid, kind="cover", author=author, version=v, counter=0, total=total, title=title,
                     chain=chain, sent_at=T0)


def reply(msgid: str, chain: tuple[str, ...], *trailers: tuple[str, str], minute: int = 30) -> MailFacts:
    return MailFacts(msgid=msgid, kind="reply", author="rev@x", chain=chain, trailers=trailers,
                     sent_at=T0 + dt.timedelta(minutes=minute))


def shape(mails: list[MailFacts]) -> list[tuple[str | None, dict[int, str]]]:
    """(cover, patches) per series, in a fixed order (by patch 1's Message-ID)."""
    return sorted(((g.cover, g.patches) for g in group(mails)), key=lambda s: sorted(s[1].values()))


def test_patches_before_their_cover_share_the_missing_cover_as_head():
    p1, p2 = patch("p1", 1, 2, ("c",)), patch("p2", 2, 2, ("c",))
    assert head_of(p1, {"p1": p1, "p2": p2}) == "c" == head_of(p2, {"p1": p1})
    [g] = group([p1, p2])
    assert g.cover is None and g.missing == () and g.key.startswith("c|")
    [g] = group([p1, p2, cover("c", 2)])
    assert (g.cover, g.patches, g.complete) == ("c", {1: "p1", 2: "p2"}, True)


def test_deep_threading_with_holes_stays_one_series():
    mails = [patch(f"p{i}", i, 4, ("c", *(f"p{j}" for j in range(1, i)))) for i in (1, 3, 4)]
    assert shape(mails) == [(None, {1: "p1", 3: "p3", 4: "p4"})]
    assert shape([*mails, cover("c", 4), patch("p2", 2, 4, ("c", "p1"))]) == [
        ("c", {1: "p1", 2: "p2", 3: "p3", 4: "p4"})]


def test_no_cover_series_hangs_from_patch_one_even_when_it_is_late():
    p2, p3 = patch("p2", 2, 3, ("p1",)), patch("p3", 3, 3, ("p1",))
    assert shape([p2, p3]) == [(None, {2: "p2", 3: "p3"})]
    assert shape([p2, p3, patch("p1", 1, 3)]) == [(None, {1: "p1", 2: "p2", 3: "p3"})]


def test_v2_threaded_under_v1_is_its_own_series():
    v1 = [cover("c1", 2), patch("a1", 1, 2, ("c1",)), patch("a2", 2, 2, ("c1",))]
    v2 = [cover("c2", 2, ("c1",), v=2), patch("b1", 1, 2, ("c1", "c2"), v=2), patch("b2", 2, 2, ("c1", "c2"), v=2)]
    assert shape(v2[1:] + v1) == [("c1", {1: "a1", 2: "a2"}), (None, {1: "b1", 2: "b2"})]
    assert shape(v1 + v2) == [("c1", {1: "a1", 2: "a2"}), ("c2", {1: "b1", 2: "b2"})]


def test_two_series_of_one_author_same_version_and_length_are_never_merged():
    a = [patch("a1", 1, 2), patch("a2", 2, 2, ("a1",))]
    b = [patch("b1", 1, 2, minute=5), patch("b2", 2, 2, ("b1",), minute=5)]
    assert shape(b + a) == [(None, {1: "a1", 2: "a2"}), (None, {1: "b1", 2: "b2"})]


def test_resend_under_the_original_is_a_separate_series():
    orig = [cover("c", 2), patch("a1", 1, 2, ("c",)), patch("a2", 2, 2, ("c",))]
    resend = [patch("r1", 1, 2, ("c",), resend=True, minute=60), patch("r2", 2, 2, ("c", "r1"), resend=True, minute=60)]
    assert shape(orig + resend) == [("c", {1: "a1", 2: "a2"}), (None, {1: "r1", 2: "r2"})]


def test_unthreaded_series_are_grouped_by_author_version_length_and_time():
    a = [patch(f"u{i}", i, 3, minute=i) for i in (1, 2, 3)]
    later = [patch(f"w{i}", i, 3, minute=24 * 60 + i) for i in (1, 2, 3)]
    assert shape(later + a) == [(None, {1: "u1", 2: "u2", 3: "u3"}), (None, {1: "w1", 2: "w2", 3: "w3"})]


def test_a_second_mail_for_a_taken_counter_is_a_duplicate_not_a_second_patch():
    first, again = patch("p1", 1, 2, ("c",), minute=0), patch("p1b", 1, 2, ("c",), minute=3)
    [g] = group([again, first])
    assert g.patches == {1: "p1"} and g.duplicates == ("p1b",)


def test_replies_before_their_patch_attach_when_it_comes():
    r = reply("r", ("c", "p2"), ("Reviewed-by", "Rev <rev@x>"))
    ack = reply("ack", ("c",), ("Acked-by", "Rev <rev@x>"), minute=40)
    assert group([r, ack]) == []
    [g] = group([r, ack, cover("c", 2), patch("p1", 1, 2, ("c",)), patch("p2", 2, 2, ("c",))])
    assert g.trailers == {1: (("Acked-by", "Rev <rev@x>", "ack"),),
                          2: (("Reviewed-by", "Rev <rev@x>", "r"), ("Acked-by", "Rev <rev@x>", "ack"))}
    assert set(g.replies) == {"r", "ack"}


def _archive() -> list[MailFacts]:
    return [cover("c", 3), *(patch(f"p{i}", i, 3, ("c", *(f"p{j}" for j in range(1, i)))) for i in (1, 2, 3)),
            cover("d", 2, ("c",), v=2), patch("q1", 1, 2, ("c", "d"), v=2), patch("q2", 2, 2, ("c", "d"), v=2),
            patch("n1", 1, 2, author="bob@x"), patch("n2", 2, 2, ("n1",), author="bob@x"),
            patch("u1", 1, 2, author="eve@x"), patch("u2", 2, 2, author="eve@x"),
            reply("r1", ("c", "p1", "p2"), ("Reviewed-by", "R <r@x>")), reply("r2", ("d",), ("Acked-by", "A <a@x>"))]


@settings(max_examples=200, deadline=None)
@given(order=st.permutations(_archive()))
def test_grouping_is_a_function_of_the_set(order):
    assert group(order) == group(_archive())


def view(i: int, v: int, *, author: str = "ada@x", title: str = "t", day: int = 0, members: tuple[str, ...] = (),
         chain: tuple[str, ...] = (), patches: tuple[str, ...] = (), change_id: str | None = None,
         supersedes: tuple[str, ...] = ()) -> VersionView:
    return VersionView(id=i, author=author, version=v, sent_at=T0 + dt.timedelta(days=day), title=title,
                       members=frozenset(members or (f"m{i}",)), first_chain=chain, supersedes=frozenset(supersedes),
                       change_id=change_id, patch_titles=frozenset(patches))


def test_versions_chain_v1_v2_v3_whatever_the_order():
    vs = [view(3, 3, title="a", patches=("x", "y")), view(1, 1, title="b", patches=("x", "y")),
          view(2, 2, title="c", patches=("x", "y", "z"))]
    assert link_versions(vs) == {1: (2, None), 2: (3, 1), 3: (None, 2)}


def test_versions_linked_by_threading_supersedes_and_change_id_across_renames():
    v1 = view(1, 1, title="old", members=("c1",))
    assert link_versions([v1, view(2, 2, title="new", chain=("c1",))])[1] == (2, None)
    assert link_versions([v1, view(2, 2, title="new", supersedes=("c1",))])[1] == (2, None)
    assert link_versions([view(1, 1, title="a", change_id="k"), view(2, 2, title="b", change_id="k",
                                                                       author="other@x")])[1] == (2, None)


def test_unrelated_series_and_other_authors_are_not_versions():
    assert link_versions([view(1, 1, title="a", patches=("x",)), view(2, 2, title="b", patches=("y",))])[1] == \
        (None, None)
    assert link_versions([view(1, 1, title="a"), view(2, 2, title="a", author="bob@x")])[1] == (None, None)


def test_a_resend_replaces_the_same_version_posted_earlier():
    assert link_versions([view(2, 1, title="a", day=1), view(1, 1, title="a")]) == {1: (2, None), 2: (None, 1)}
