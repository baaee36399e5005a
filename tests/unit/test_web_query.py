"""The dashboard's query language: text -> SeriesQuery -> text, and the SQL it becomes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from bot.db.models import Series
from bot.web.query import STATES, SeriesQuery, format_query, list_query, parse, to_filters, with_term


def test_the_example_of_the_issue():
    q = parse("project:libvirt state:failed author:ada free text")
    assert q == SeriesQuery(projects=("libvirt",), states=("failed",), authors=("ada",), words=("free", "text"))
    assert not q.errors


@pytest.mark.parametrize("text, expected", [
    ("", SeriesQuery()),
    ("p:demo s:running a:bob v:3", SeriesQuery(projects=("demo",), states=("running",), authors=("bob",),
                                                versions=(3,))),
    ("state:failed,error state:failed", SeriesQuery(states=("failed", "error"))),
    ("STATE:Passed Project:Demo", SeriesQuery(states=("passed",), projects=("demo",))),
    ('author:"Ada Lovelace" "exact phrase"', SeriesQuery(authors=("Ada Lovelace",), words=("exact phrase",))),
    ("-state:superseded -project:other -author:bot", SeriesQuery(not_states=("superseded",), not_projects=("other",),
                                                                 not_authors=("bot",))),
    ("qemu: fix foo:bar", SeriesQuery(words=("qemu:", "fix", "foo:bar"))),
    ("v:v2", SeriesQuery(versions=(2,))),
    ('"unterminated phrase', SeriesQuery(words=("unterminated phrase",))),
    ("state:", SeriesQuery(words=("state:",))),
])
def test_parse(text, expected):
    assert parse(text) == expected


def test_errors_are_named_and_the_rest_still_applies():
    q = parse("state:faild project:demo v:x")
    assert q.projects == ("demo",) and not q.states and not q.versions
    assert any("faild" in e for e in q.errors) and any("'x'" in e for e in q.errors)


def test_term_count_is_capped():
    q = parse(" ".join(f"w{i}" for i in range(100)))
    assert len(q.words) == 20 and q.errors


def test_old_parameters_fold_into_the_query():
    assert parse(list_query("words", "demo", "failed", "Ada L")) == SeriesQuery(
        projects=("demo",), states=("failed",), authors=("Ada L",), words=("words",))


def test_with_term_replaces_one_key():
    q = with_term(parse("author:bob state:failed x"), "author", "ada@example.org")
    assert format_query(q) == "state:failed author:ada@example.org x"


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"'), min_size=1,
                max_size=12).filter(lambda w: w.strip() == w and not any(c.isspace() for c in w))


@given(projects=st.lists(st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True), max_size=2),
       states=st.lists(st.sampled_from(STATES), max_size=2), authors=st.lists(words, max_size=2),
       free=st.lists(words, max_size=3))
def test_format_then_parse_gives_the_same_query(projects, states, authors, free):
    q = SeriesQuery(projects=tuple(dict.fromkeys(projects)), states=tuple(dict.fromkeys(states)),
                    authors=tuple(dict.fromkeys(a.replace(",", "") for a in authors if a.replace(",", ""))),
                    words=tuple(dict.fromkeys(free)))
    again = parse(format_query(q))
    assert again == q, format_query(q)


def _sql(q: SeriesQuery) -> str:
    stmt = select(Series.id).where(*to_filters(q))
    return str(stmt.compile(dialect=sqlite.dialect()))


def test_filters_use_bound_parameters_only():
    sql = _sql(parse("author:x'); DROP TABLE series; -- \"100%_\""))
    assert "DROP" not in sql and "100%" not in sql
    assert "lower(series.author_name) LIKE lower(?)" in sql


def test_free_text_searches_title_author_and_patch_subjects():
    sql = _sql(parse("reset"))
    assert "series.title" in sql and "series.author_email" in sql and "EXISTS" in sql and "patch.subject" in sql


def test_empty_query_has_no_filter():
    assert to_filters(parse("")) == []
