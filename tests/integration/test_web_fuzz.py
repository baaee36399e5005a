"""Hostile requests never get a 5xx and never a stack trace, on SQLite and PostgreSQL: the requests
an outside reliability run found answering 500 (a non-ASCII session cookie or CSRF token, ids beyond
64 bits, a NUL byte in a query, a 100,000-character query), then hypothesis over paths, ids, query
strings, cookies and form fields against the real app."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.db.session import init_db
from bot.web.app import create_app
from tests.fixtures_demo import demo_mails
from tests.ingest_driver import deliver
from tests.integration.test_web_fixtures import MAINTAINER, TOKEN, with_logins
from tests.stack import drop_postgres, fresh_postgres_url

HUGE = "99999999999999999999"
TRACE_MARKS = ("Traceback", 'File "/', "sqlalchemy.", "psycopg", "OverflowError")


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def backend(request):
    return request.param


@pytest.fixture
def site(bot_settings, backend):
    name = None
    settings = with_logins(bot_settings, {MAINTAINER: TOKEN})
    if backend == "postgresql":
        url, name = fresh_postgres_url()
        settings = replace(settings, database_url=url)
        init_db(url)
    for raw in demo_mails("fuzz"):
        deliver(settings, raw)
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    response = client.post("/login", data={"address": MAINTAINER, "token": TOKEN, "next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    session_cookie = client.cookies.get("seriesbot_session")
    client.cookies.clear()
    yield client, session_cookie
    client.close()
    if name:
        from bot.db.session import dispose_all

        dispose_all()
        drop_postgres(name)


def cookie(value: str) -> dict[str, bytes]:
    """A raw Cookie header (httpx's cookie jar refuses non-ASCII; a hostile client does not)."""
    return {"cookie": b"seriesbot_session=" + value.replace("\r", "").replace("\n", "").encode()}


def assert_clean(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    for mark in TRACE_MARKS:
        assert mark not in response.text, f"{what}: {mark!r} in {response.text[:300]}"


FOUND_500 = [f"/api/series/{HUGE}", f"/series/{HUGE}", f"/api/runs/{HUGE}", f"/runs/{HUGE}",
             f"/series/{HUGE}/badge.svg", f"/series/1/range-diff?from={HUGE}", f"/api/series/1/range-diff?from={HUGE}",
             f"/series/1?run={HUGE}", f"/api/series/{HUGE}/live", "/?q=a%00b", "/api/series?q=author:%00",
             "/api/patch-results?msgid=a%00b", "/?q=" + "x" * 60_000, "/api/series?q=" + "y" * 60_000, "/?q=" + "z" * 2000,
             "/logs/" + "n" * 300, "/?author=%00"]


def test_the_requests_that_answered_500(site):
    client, session_cookie = site
    for url in FOUND_500:
        response = client.get(url)
        assert_clean(response, url[:80])
        assert 400 <= response.status_code < 500, url[:80]
        if url.startswith("/api/"):
            assert isinstance(response.json()["detail"], str)
        else:
            assert response.headers["content-type"].startswith("text/plain")
            assert len(response.text) < 300
    for url in ("/", "/series/1", "/projects"):
        response = client.get(url, headers=cookie("abc.\u00e9"))
        assert response.status_code == 200 and "Sign out" not in response.text, url
    response = client.post("/series/1/retest", data={"csrf": "\u00e9t\u00e9"}, headers=cookie(session_cookie),
                           follow_redirects=False)
    assert response.status_code == 403 and response.text.strip() == "bad or missing CSRF token"
    assert client.get("/series/1", headers=cookie(session_cookie + "\u00e9")).status_code == 200


def raw_get(app, path: str, query: bytes) -> tuple[int, bytes]:
    """One request straight into the ASGI app: httpx refuses URLs over 64 KiB, a hostile client does not."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query,
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_100000_character_query(site):
    client, _ = site
    for path in ("/", "/api/series"):
        status, body = raw_get(client.app, path, b"q=" + b"x" * 100_000)
        assert status == 414 and b"longer than" in body and b"Traceback" not in body


ids = st.one_of(st.integers(min_value=-(2**70), max_value=2**80).map(str),
                st.sampled_from(["1", "0", "-1", HUGE, "9223372036854775807", "9223372036854775808", "1e3", "0x1"]),
                st.text(max_size=30))
texts = st.one_of(st.text(max_size=60), st.sampled_from(["\x00", "a\x00b", "author:\x00", "%", "_", "\\", "'",
                                                         "state:\u00e9", "x" * 20_000, "é" * 3_000]))
GET_TEMPLATES = ["/series/{id}", "/api/series/{id}", "/api/runs/{id}", "/runs/{id}", "/series/{id}/badge.svg",
                 "/series/{id}/fragment", "/api/series/{id}/live", "/series/{id}/range-diff",
                 "/api/series/{id}/range-diff", "/logs/{text}", "/api/logs/{text}", "/feeds/{text}.atom", "/",
                 "/api/series", "/api/patch-results", "/login", "/projects", "/static/{text}", "/git/{text}"]
PARAMS = ["q", "run", "from", "page", "per_page", "msgid", "author", "state", "project", "offset", "limit", "raw",
          "next", "msg"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=st.sampled_from(GET_TEMPLATES), id_=ids, text=texts,
       params=st.dictionaries(st.sampled_from(PARAMS), st.one_of(ids, texts), max_size=3),
       session=st.one_of(st.none(), texts, st.just("signed")), suffix=st.text(max_size=5))
def test_no_get_answers_5xx(site, template, id_, text, params, session, suffix):
    client, session_cookie = site
    url = template.format(id=quote(id_, safe=""), text=quote(text, safe="/"))
    headers = {}
    if session is not None:
        headers = cookie(session_cookie + suffix if session == "signed" else session)
    response = client.get(url, params=params, headers=headers)
    assert_clean(response, f"GET {url[:80]} {str(params)[:80]}")


FORMS = ["/series/{id}/retest", "/runs/{id}/cancel", "/login", "/logout", "/api/series/{id}/retest",
         "/api/runs/{id}/cancel"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=st.sampled_from(FORMS), id_=ids,
       form=st.dictionaries(st.sampled_from(["csrf", "address", "token", "next"]), texts, max_size=4),
       signed=st.booleans(), origin=st.sampled_from([None, "http://testserver", "http://evil.example", "null"]),
       bearer=st.one_of(st.none(), texts))
def test_no_post_answers_5xx(site, template, id_, form, signed, origin, bearer):
    client, session_cookie = site
    url = template.format(id=quote(id_, safe=""))
    headers: dict[str, str | bytes] = dict(cookie(session_cookie)) if signed else {}
    if origin:
        headers["origin"] = origin
    if bearer is not None:
        headers["authorization"] = b"Bearer " + bearer.replace("\r", "").replace("\n", "").encode()
    response = client.post(url, data=form, headers=headers, follow_redirects=False)
    assert_clean(response, f"POST {url[:80]} {str(form)[:80]}")
    assert response.status_code in (303, 401, 403, 404, 405, 413, 414, 422, 400), response.status_code
