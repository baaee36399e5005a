"""The list's queries on a database: the query language's filters, paging, and a fixed number of
SQL statements per page however many series, patches, runs and results there are (no N+1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from bot.db.models import FindingRow, Message, Patch, PatchResult, Run, Series, utcnow
from bot.db.session import get_engine, session_scope
from bot.web import queries
from bot.web.app import create_app
from bot.web.query import parse

T0 = dt.datetime(2026, 1, 1)


def seed(settings, n: int, *, start: int = 0, patches: int = 5) -> None:
    """n series with `patches` patches each, two runs each (the newer with every result)."""
    with session_scope(settings.database_url) as session:
        for i in range(start, start + n):
            project = "demo" if i % 3 else "other"
            state = ("passed", "failed", "running", "superseded")[i % 4]
            author = ("Ada Lovelace", "ada@example.org") if i % 2 else ("Bob Builder", "bob@example.org")
            s = Series(project=project, title=f"series number {i}", norm_title=f"series number {i}",
                       author_name=author[0], author_email=author[1], version=1 + i % 3, total=patches, state=state,
                       created_at=T0 + dt.timedelta(minutes=i))
            session.add(s)
            session.flush()
            rows = []
            for k in range(1, patches + 1):
                m = Message(message_id=f"m{i}-{k}@x", source="test", raw=b"", subject="")
                session.add(m)
                session.flush()
                p = Patch(series_id=s.id, index=k, message_id=m.message_id, message_pk=m.id,
                          subject=f"[PATCH {k}/{patches}] part {k} of {i}{' frobnicate' if i == 7 else ''}",
                          author_email=author[1], trailers=[["Signed-off-by", author[1], ""],
                                                            ["Reviewed-by", "x <x@x>", ""]])
                session.add(p)
                rows.append(p)
            session.add(Run(series_id=s.id, project=project, state="done", verdict="ok"))
            run = Run(series_id=s.id, project=project, state="running" if state == "running" else "done")
            session.add(run)
            session.flush()
            done = patches - 2 if state == "running" else patches
            for p in rows[:done]:
                r = PatchResult(run_id=run.id, patch_id=p.id, index=p.index, apply="ok", build="ok", test="ok",
                                rules="warn", verdict="fail" if (p.index == 2 and state == "failed") else "ok")
                r.findings = [FindingRow(rule_id="a.b", severity="warning", path="a.c", line=1, message="m")]
                session.add(r)


@contextmanager
def count_statements(settings) -> Iterator[list[str]]:
    engine = get_engine(settings.database_url)
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _count(settings, client: TestClient, url: str) -> int:
    with count_statements(settings) as seen:
        assert client.get(url).status_code == 200
    return len(seen)


def test_statement_count_of_the_list_does_not_grow_with_rows(bot_settings):
    client = TestClient(create_app(bot_settings))
    seed(bot_settings, 3)
    small = {url: _count(bot_settings, client, url) for url in ("/", "/api/series", "/projects", "/?q=ada")}
    seed(bot_settings, 60, start=3, patches=8)
    large = {url: _count(bot_settings, client, url) for url in ("/", "/api/series", "/projects", "/?q=ada")}
    assert small == large, (small, large)
    assert large["/"] <= 6


def test_statement_count_of_the_series_page_does_not_grow_with_patches(bot_settings):
    client = TestClient(create_app(bot_settings))
    seed(bot_settings, 1, patches=2)
    seed(bot_settings, 1, start=1, patches=30)
    assert _count(bot_settings, client, "/series/1") == _count(bot_settings, client, "/series/2")


def _ids(settings, text: str, **kw) -> list[int]:
    with session_scope(settings.database_url) as session:
        page = queries.series_list(session, parse(text), **kw)
    return [r.id for r in page.series]


def test_filters_on_the_database(bot_settings):
    seed(bot_settings, 12)
    everything = _ids(bot_settings, "")
    assert everything == list(range(12, 0, -1))  # newest first
    assert all(i % 3 != 1 for i in _ids(bot_settings, "project:demo"))  # series i-1 % 3 == 0 are "other"
    assert _ids(bot_settings, "project:other") == [10, 7, 4, 1]
    # series i (id i+1) is "other" when i % 3 == 0, and passed, failed, running, superseded by i % 4
    assert _ids(bot_settings, "state:failed project:demo") == [6, 2]
    assert _ids(bot_settings, "state:failed,passed project:other") == [10, 1]
    assert _ids(bot_settings, "author:bob state:passed") == [9, 5, 1]
    assert _ids(bot_settings, "-author:bob -state:superseded") == [10, 6, 2]
    assert _ids(bot_settings, "frobnicate") == [8]  # a word of one patch subject
    assert _ids(bot_settings, '"number 11"') == [12]
    assert _ids(bot_settings, "LOVELACE v:2") == [8, 2]
    assert _ids(bot_settings, "100%") == [] and _ids(bot_settings, "_") == []  # LIKE wildcards are literal
    assert _ids(bot_settings, "", page=2, per_page=5) == [7, 6, 5, 4, 3]


def test_cells_trailers_and_running_patches(bot_settings):
    seed(bot_settings, 4)
    with session_scope(bot_settings.database_url) as session:
        page = queries.series_list(session, parse(""))
    rows = {r.id: r for r in page.series}
    assert [c.verdict for c in rows[2].patches] == ["ok", "fail", "ok", "ok", "ok"]  # i=1: failed
    assert [c.verdict for c in rows[3].patches] == ["ok", "ok", "ok", "running", "queued"]  # i=2: running
    assert rows[2].trailers == 5  # one Reviewed-by per patch; Signed-off-by is not counted
    assert rows[3].run_state == "running"


@pytest.mark.parametrize("state, expected", [("queued", "queued"), ("error", "error"), ("done", "skip"),
                                             (None, "pending")])
def test_pending_state_of_a_patch_without_result(state, expected):
    assert queries.pending_state(state, 3, 1) == expected


def test_overview_counts_by_project(bot_settings):
    seed(bot_settings, 8)
    with session_scope(bot_settings.database_url) as session:
        data = queries.overview(session, bot_settings, now=T0 + dt.timedelta(days=1))
    by = {p.name: p for p in data.projects}
    assert by["demo"].series_week == 5 and by["other"].series_week == 3
    assert by["demo"].running_runs and by["other"].queued_runs == 0
    with session_scope(bot_settings.database_url) as session:
        late = queries.overview(session, bot_settings, now=utcnow() + dt.timedelta(days=30))
    assert all(p.series_week == 0 for p in late.projects)


def test_count_stops_at_the_cap_and_paging_goes_on(bot_settings, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_CAP", 5)
    seed(bot_settings, 8)
    with session_scope(bot_settings.database_url) as session:
        first = queries.series_list(session, parse(""), per_page=3)
        last = queries.series_list(session, parse(""), per_page=3, page=3)
    assert (first.total, first.total_capped, first.has_next) == (5, True, True)
    assert [r.id for r in last.series] == [2, 1] and not last.has_next


def test_author_by_whole_address_is_exact(bot_settings):
    seed(bot_settings, 4)
    assert _ids(bot_settings, "author:Bob@Example.org") == [3, 1]
    assert _ids(bot_settings, "author:ob@example.org") == []  # a whole address: no substring match
    assert _ids(bot_settings, "author:ob@exam") == [3, 1]  # not an address: a substring
