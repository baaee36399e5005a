"""Sign-in by token, signed session cookies, CSRF-protected buttons, Bearer tokens on the API; only
the project's maintainers may retest and cancel, anonymous users read only."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db.models import Run, Series
from bot.db.session import session_scope
from bot.web import auth
from bot.web.app import create_app
from tests.fixtures_demo import demo_mails
from tests.ingest_driver import deliver
from tests.integration.test_web_fixtures import MAINTAINER, OUTSIDER, OUTSIDER_TOKEN, TOKEN, with_logins


@pytest.fixture
def site(bot_settings):
    settings = with_logins(bot_settings, {MAINTAINER: TOKEN, OUTSIDER: OUTSIDER_TOKEN})
    for raw in demo_mails("auth"):
        deliver(settings, raw)
    return settings, TestClient(create_app(settings))


def sign_in(client: TestClient, address: str = MAINTAINER, token: str = TOKEN) -> str:
    response = client.post("/login", data={"address": address, "token": token, "next": "/series/1"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/series/1"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get("/series/1").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


def runs(settings) -> list[tuple[int, str, str, str]]:
    with session_scope(settings.database_url) as session:
        return [(r.id, r.state, r.trigger, r.requested_by) for r in session.scalars(select(Run).order_by(Run.id))]


def test_anonymous_users_read_only(site):
    settings, client = site
    page = client.get("/series/1").text
    assert "Retest" not in page and "Sign in" in page
    assert client.post("/series/1/retest", follow_redirects=False).headers["location"].startswith("/login")
    assert client.post("/api/series/1/retest").status_code == 401
    assert client.post("/api/series/1/retest", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert len(runs(settings)) == 1


def test_wrong_token_is_refused(site):
    _, client = site
    response = client.post("/login", data={"address": MAINTAINER, "token": "nope-nope"}, follow_redirects=False)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    assert "Unknown address or wrong token" in response.text


def test_maintainer_retests_and_cancels_with_csrf(site):
    settings, client = site
    csrf = sign_in(client)
    page = client.get("/series/1").text
    assert 'id="retest"' in page and "Cancel run 1" in page and MAINTAINER in page
    assert client.post("/series/1/retest", data={}).status_code == 403  # no CSRF token
    assert client.post("/series/1/retest", data={"csrf": "forged"}).status_code == 403
    assert client.post("/series/1/retest", data={"csrf": csrf},
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert len(runs(settings)) == 1
    response = client.post("/series/1/retest", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303 and "run+2+queued" in response.headers["location"]
    assert runs(settings) == [(1, "cancelled", "new-series", ""), (2, "queued", "web", MAINTAINER)]
    with session_scope(settings.database_url) as session:
        assert session.get(Run, 2).options == {"force": True}
    assert "run 2 queued" in client.get(response.headers["location"]).text
    response = client.post("/runs/2/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert runs(settings)[-1][1] == "cancelled"
    with session_scope(settings.database_url) as session:
        assert session.get(Series, 1).state == "cancelled"


def test_signed_in_non_maintainer_may_not_act(site):
    settings, client = site
    csrf = sign_in(client, OUTSIDER, OUTSIDER_TOKEN)
    assert "Retest" not in client.get("/series/1").text
    assert client.post("/series/1/retest", data={"csrf": csrf}).status_code == 403
    assert client.post("/api/series/1/retest", headers={"Authorization": f"Bearer {OUTSIDER_TOKEN}"}).status_code == 403
    assert len(runs(settings)) == 1


def test_api_actions_with_a_bearer_token(site):
    settings, client = site
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    body = client.post("/api/series/1/retest", headers=bearer).json()
    assert body == {"ok": True, "message": "run 2 queued", "run_id": 2}
    assert client.post("/api/runs/2/cancel", headers=bearer).json()["ok"] is True
    assert client.post("/api/runs/2/cancel", headers=bearer).json()["ok"] is False  # already cancelled
    assert client.post("/api/runs/99/cancel", headers=bearer).status_code == 404
    assert client.post("/api/series/99/retest", headers=bearer).status_code == 404
    # a cookie is not enough for the API: no ambient authority, so no CSRF there
    sign_in(client)
    assert client.post("/api/series/1/retest").status_code == 401


def test_logout_needs_csrf_and_ends_the_session(site):
    _, client = site
    csrf = sign_in(client)
    assert client.post("/logout", data={}).status_code == 403
    client.post("/logout", data={"csrf": csrf})
    assert "Sign in" in client.get("/series/1").text


def test_no_open_redirect_after_sign_in(site):
    _, client = site
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"address": MAINTAINER, "token": TOKEN, "next": target},
                               follow_redirects=False)
        assert response.headers["location"] == "/"


def test_session_cookies_are_signed_expire_and_follow_the_logins(site):
    settings, client = site
    good = auth.make_session(settings, MAINTAINER)

    def user_with(cookie: str) -> str | None:
        client.cookies.clear()
        client.cookies.set(auth.COOKIE, cookie)
        match = re.search(r'<span class="who">\s*<bdi>([^<]+)</bdi>', client.get("/").text)
        return match.group(1) if match else None

    assert user_with(good) == MAINTAINER
    payload, sig = good.split(".")
    assert user_with(f"{payload}x.{sig}") is None
    assert user_with(auth.make_session(settings, MAINTAINER, now=time.time() - auth.SESSION_SECONDS - 5)) is None
    other_secret = replace(settings, web=replace(settings.web, secret_key="another-secret"))
    assert user_with(auth.make_session(other_secret, MAINTAINER)) is None
    removed = with_logins(settings, {OUTSIDER: OUTSIDER_TOKEN})
    client2 = TestClient(create_app(removed))
    client2.cookies.set(auth.COOKIE, good)
    assert MAINTAINER not in client2.get("/").text


def test_secret_is_made_once_and_reused(bot_settings):
    path = bot_settings.data_dir / "web-secret"
    auth._secrets.clear()
    first = auth.secret_key(bot_settings)
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    auth._secrets.clear()
    assert auth.secret_key(bot_settings) == first
    env_secret = replace(bot_settings, web=replace(bot_settings.web, secret_key="from-the-environment"))
    assert auth.secret_key(env_secret) == b"from-the-environment"
