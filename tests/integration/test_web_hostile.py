"""Everything that came from mail is escaped on every page, the feed and the API: the hostile mail
corpus plus mails with <script> in subjects and names, an RTL override, a very long unbroken
subject and names in 8-bit Latin-1, and a run whose logs, errors and findings carry markup."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db.models import (
    CommandRow,
    FindingRow,
    Message,
    OutboundMail,
    Patch,
    PatchResult,
    Run,
    Series,
    utcnow,
)
from bot.db.session import session_scope
from bot.web.app import create_app
from tests.helpers import make_mail, patch_body
from tests.ingest_driver import deliver

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "mail" / "hostile"
SCRIPT = "<script>alert(1)</script>"
RLO = "\u202e"
LONG = "x" * 3000


def _encoded(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def hostile_mails() -> list[bytes]:
    mails = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    mails.append(make_mail(_encoded(f"[PATCH] util: {RLO}gnp.exe {SCRIPT}"), msgid="rlo@x", body=patch_body()))
    mails.append(make_mail(f"[PATCH] util: {LONG}", msgid="long@x", body=patch_body(old="l", new="m")))
    mails.append(make_mail("[PATCH] util: name test", msgid="name@x", body=patch_body(old="n", new="o"),
                           sender='"<img src=x onerror=alert(2)>" <evil@example.org>'))
    latin1 = make_mail("[PATCH] util: latin", msgid="latin@x", body=patch_body(old="p", new="q"),
                       sender="Ren\u00e9 M\u00fcller <rene@example.org>")
    mails.append(latin1.replace("Ren\u00e9 M\u00fcller".encode(), "Ren\u00e9 M\u00fcller".encode("latin-1")))
    mails.append(make_mail("[PATCH] util: encoded latin", msgid="latin2@x", body=patch_body(old="r", new="s"),
                           sender="=?iso-8859-1?q?Ren=E9_<b>?= <rene2@example.org>"))
    return mails


def poison_a_run(settings, series_id: int) -> None:
    """A finished run whose results carry markup everywhere a result has text."""
    log = settings.logs_dir / "run-evil" / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"cc -c a.c\n{SCRIPT}\n<img src=x onerror=alert(5)>\n")
    with session_scope(settings.database_url) as session:
        run = session.scalar(select(Run).where(Run.series_id == series_id))
        if run is None:
            run = Run(series_id=series_id, project="demo", trigger="new-series")
            session.add(run)
        run.state, run.verdict, run.finished_at, run.started_at = "done", "fail", utcnow(), utcnow()
        run.error, run.base_ref = SCRIPT, f"main{SCRIPT}"
        session.flush()
        patch = session.scalar(select(Patch).where(Patch.series_id == series_id))
        result = PatchResult(run_id=run.id, patch_id=patch.id, index=patch.index, apply="ok", build="fail",
                             test="skip", rules="fail", verdict="fail", logs={"build": "run-evil/build.log"},
                             details={"build_errors": [f"a.c:1: error: {SCRIPT}"], "apply_note": SCRIPT,
                                      "failed_tests": [{"name": SCRIPT, "status": "FAIL", "since": 1,
                                                        "log_tail": SCRIPT}]})
        result.findings = [FindingRow(rule_id="x.y", severity="error", path=f"src/{SCRIPT}.c", line=1,
                                      message="<svg onload=alert(4)>", guide=SCRIPT)]
        session.add(result)
        message_pk = session.scalar(select(Message.id).limit(1))
        session.add(CommandRow(message_pk=message_pk, series_id=series_id, sender=f"{SCRIPT}@x", verb="retest",
                               args=[SCRIPT], decision=SCRIPT))
        session.add(OutboundMail(key=f"evil-{series_id}", kind="summary", run_id=run.id, series_id=series_id,
                                 message_id=f"evil-{series_id}@x", to=[SCRIPT], subject=f"Re: {SCRIPT}", body="x"))


@pytest.fixture
def hostile(bot_settings):
    for raw in hostile_mails():
        deliver(bot_settings, raw)
    with session_scope(bot_settings.database_url) as session:
        ids = list(session.scalars(select(Series.id).order_by(Series.id)))
        rlo = session.scalar(select(Series.id).join(Patch).where(Patch.message_id == "rlo@x"))
    poison_a_run(bot_settings, rlo)
    return bot_settings, ids, rlo


def assert_inert(html: str) -> None:
    assert html.count("<script") == 1 and '<script src="/static/live.js" defer></script>' in html
    for bad in ("<img src=x", "<svg onload", "<b>"):
        assert bad not in html, bad


def test_every_page_escapes_mail_text(hostile):
    settings, ids, rlo = hostile
    client = TestClient(create_app(settings))
    assert len(ids) >= 20
    pages = ["/", "/projects", "/?q=util", f"/?q={SCRIPT}", "/logs/run-evil/build.log", "/login",
             *[f"/series/{i}" for i in ids]]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.text)
    evil = client.get(f"/series/{rlo}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evil and "&lt;svg onload=alert(4)&gt;" in evil
    # the RTL override is shown by name, so it cannot reverse the subject (gnp.exe posing as exe.png);
    # and mail text sits in its own <bdi>, so right-to-left text cannot reorder what is around it
    listing = client.get("/").text
    assert RLO not in listing and RLO not in evil
    assert re.search(r"<bdi>util: \[U\+202E\]gnp.exe &lt;script&gt;alert\(1\)&lt;/script&gt;</bdi>", listing)
    assert LONG in listing  # shown whole; the stylesheet lets it wrap
    assert "Ren\ufffd" in listing or "René" in listing  # the 8-bit name shows, decoded or replaced
    assert "&lt;img src=x onerror=alert(2)&gt;" in listing
    fragment = client.get(f"/series/{rlo}/fragment").text
    assert "<script" not in fragment and "&lt;script&gt;" in fragment


def test_feed_and_badge_stay_well_formed(hostile):
    settings, ids, rlo = hostile
    with session_scope(settings.database_url) as session:  # a NUL byte in a title (21-nul-in-header)
        session.get(Series, rlo).title = f"nul\x00 {SCRIPT} {RLO}"
    client = TestClient(create_app(settings))
    feed = client.get("/feeds/demo.atom")
    root = ET.fromstring(feed.content)  # parses: escaped and free of characters XML forbids
    text = "".join(root.itertext())
    assert SCRIPT in text and "\x00" not in text
    ET.fromstring(client.get(f"/series/{rlo}/badge.svg").content)


def test_api_returns_mail_text_as_data(hostile):
    settings, ids, rlo = hostile
    client = TestClient(create_app(settings))
    listing = client.get("/api/series", params={"per_page": 200})
    assert listing.headers["content-type"] == "application/json"
    titles = [s["title"] for s in listing.json()["series"]]
    assert any(SCRIPT in t and RLO in t for t in titles)
    detail = client.get(f"/api/series/{rlo}").json()
    assert detail["runs"][0]["results"][0]["findings"][0]["message"] == "<svg onload=alert(4)>"
