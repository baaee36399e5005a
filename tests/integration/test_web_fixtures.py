"""A small real world for the dashboard tests, built once per session: the sample series v1 and a
v2 whose patch 3 changed, both run by the real pipeline (git am, meson, ninja, rules), a
Reviewed-by reply, a refused mail command, the summary mail in the outbox, and two worker
heartbeats (one alive, one gone). Other modules import `web_world_fixture` from here to use the `web_world` fixture."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db.models import Patch, Run, Series, WorkerHeartbeat, utcnow
from bot.db.session import init_db, session_scope
from bot.demo.upstream import create_upstream
from bot.report.report import report_run
from bot.settings import Settings, load_settings, set_settings
from bot.web.app import create_app
from tests.fixtures_demo import demo_mails
from tests.helpers import make_mail
from tests.ingest_driver import deliver
from tests.stack import write_config
from workers.pipeline import run_series

MAINTAINER = "maintainer@demo.seriesbot.test"
TOKEN = "maintainer-token-1"
OUTSIDER = "eve@example.org"
OUTSIDER_TOKEN = "outsider-token-2"


@dataclass
class World:
    settings: Settings
    v1: int
    v2: int
    v1_run: int
    v2_run: int
    client: TestClient


def as_v2(raw: bytes) -> bytes:
    """The same mail as version 2 (new Message-ID tag given by the caller); patch 3 changes."""
    raw = raw.replace(b"[PATCH ", b"[PATCH v2 ")
    return raw.replace(b"+    obj->state = state;\n", b"+    obj->state = state; /* v2 */\n")


def web_settings(base: Path) -> Settings:
    config = write_config(base, smtp_port=1, web_port=2, relay_port=3)
    env = {"SERIESBOT_WEB_LOGINS": f"{MAINTAINER}={TOKEN},{OUTSIDER}={OUTSIDER_TOKEN}"}
    settings = load_settings(config, env=env)
    set_settings(settings)
    init_db(settings.database_url)
    return settings


def latest_run(settings: Settings, series_id: int) -> int:
    with session_scope(settings.database_url) as session:
        run_id = session.scalar(select(Run.id).where(Run.series_id == series_id).order_by(Run.id.desc()))
        assert run_id is not None
        return run_id


@pytest.fixture(scope="session", name="web_world")
def web_world_fixture(tmp_path_factory) -> World:
    settings = web_settings(tmp_path_factory.mktemp("web"))
    project = settings.projects["demo"]
    create_upstream(Path(project.upstream), project.branch)
    for raw in demo_mails("w1"):
        deliver(settings, raw)
    with session_scope(settings.database_url) as session:
        v1 = session.scalar(select(Series.id).order_by(Series.id))
    v1_run = latest_run(settings, v1)
    assert run_series(v1_run, settings) == "done"
    for raw in demo_mails("w2"):
        deliver(settings, as_v2(raw))
    with session_scope(settings.database_url) as session:
        v2 = session.scalar(select(Series.id).where(Series.version == 2))
        patch1 = session.scalar(select(Patch.message_id).where(Patch.series_id == v2, Patch.index == 1))
    v2_run = latest_run(settings, v2)
    assert run_series(v2_run, settings) == "done"
    report_run(v2_run, settings)
    deliver(settings, make_mail("Re: [PATCH v2 1/4] domain: Introduce virDomainReset API", msgid="review-1@x",
                                sender="Bob Reviewer <bob@example.org>", in_reply_to=patch1,
                                body="Looks good.\n\nReviewed-by: Bob Reviewer <bob@example.org>\n"))
    deliver(settings, make_mail("Re: [PATCH v2 0/4] domain: add virDomainReset API", msgid="cmd-1@x",
                                sender=f"Eve <{OUTSIDER}>", in_reply_to="w2-0@example.org",
                                body="seriesbot: retest\n"))
    with session_scope(settings.database_url) as session:
        now = utcnow()
        session.add(WorkerHeartbeat(name="build0@host", host="host", queues=["seriesbot.build.demo"], pid=1,
                                    last_seen=now, current_run_id=v2_run))
        session.add(WorkerHeartbeat(name="old@host", host="host", queues=["seriesbot.light"], pid=2,
                                    last_seen=now - dt.timedelta(hours=2)))
    client = TestClient(create_app(settings))
    return World(settings, v1, v2, v1_run, v2_run, client)


def signed_in(world: World, address: str = MAINTAINER, token: str = TOKEN) -> TestClient:
    """A separate browser: its own cookie jar, signed in."""
    client = TestClient(world.client.app)
    response = client.post("/login", data={"address": address, "token": token, "next": "/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def with_logins(settings: Settings, logins: dict[str, str]) -> Settings:
    return replace(settings, web=replace(settings.web, logins=logins))


def test_the_world_has_two_versions_with_results(web_world: World):
    data = web_world.client.get(f"/api/series/{web_world.v2}").json()
    assert [v["version"] for v in data["versions"]] == [1, 2]
    assert data["runs"][0]["state"] == "done" and len(data["runs"][0]["results"]) == 4
