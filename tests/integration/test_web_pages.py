"""The dashboard's pages and JSON API over a real world (two versions of the sample series run by
the real pipeline): list with the query language, series page, range-diff, logs, feed, badge,
overview, and the same data from the API and `seriesbot series`."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from bot.cli import main as cli_main
from bot.web import logs
from tests.integration.test_web_fixtures import (
    World,
    web_world_fixture,  # noqa: F401  (the web_world fixture)
)


def _rows(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-series="(\d+)">', html)]


def test_list_is_newest_first_with_a_cell_per_patch(web_world: World):
    html = web_world.client.get("/").text
    assert _rows(html) == [web_world.v2, web_world.v1]
    row = html.split(f'<tr data-series="{web_world.v2}">')[1].split("</tr>")[0]
    cells = re.findall(r'class="cell v-(\w+)" data-index="(\d+)"', row)
    assert cells == [("ok", "1"), ("fail", "2"), ("fail", "3"), ("fail", "4")]
    assert '<td class="trailers">1</td>' in row  # Bob's Reviewed-by
    assert "ago" in row or "just now" in row


def test_the_query_lives_in_the_url(web_world: World):
    c = web_world.client
    assert _rows(c.get("/?q=state:superseded").text) == [web_world.v1]
    assert _rows(c.get("/?q=-state:superseded project:demo").text) == [web_world.v2]
    assert _rows(c.get("/?q=project:other").text) == []
    assert _rows(c.get("/?q=author:ada InjectNMI").text) == [web_world.v2, web_world.v1]  # a patch subject
    assert _rows(c.get("/?q=v:2").text) == [web_world.v2]
    assert _rows(c.get("/?state=superseded").text) == [web_world.v1]  # the old parameters still work
    page = c.get("/?q=state:faild").text
    assert "unknown state" in page and "faild" in page
    # the page's own links carry the query
    assert 'value="project:demo -state:superseded"' in c.get("/?q=project:demo+-state:superseded").text


def test_paging_is_the_same_in_the_page_and_the_api(web_world: World):
    first = web_world.client.get("/api/series?per_page=1").json()
    second = web_world.client.get("/api/series?per_page=1&page=2").json()
    assert first["total"] == 2 and first["pages"] == 2
    assert [s["id"] for s in first["series"] + second["series"]] == [web_world.v2, web_world.v1]
    html = web_world.client.get("/?q=project:demo").text
    assert "older &rarr;" not in html  # 2 series fit one page of 50


def test_series_page_shows_versions_matrix_findings_trailers_commands_mails_runs(web_world: World):
    html = web_world.client.get(f"/series/{web_world.v2}").text
    assert f'<a href="/series/{web_world.v1}">v1</a>' in html
    assert "1 changed (3), 3 unchanged" in html
    assert f'/series/{web_world.v2}/range-diff?from={web_world.v1}' in html
    assert re.search(r'id="patch-3".*?class="change c-changed"', html, re.S)
    # the matrix: patch x (apply, build, test, rules), a log link where a step has a log
    cells = dict(re.findall(r'data-step="(\w+)" data-state="(\w+)"', html.split('id="patch-4"')[1].split("</tr>")[0]))
    assert cells == {"apply": "ok", "build": "fail", "test": "skip", "rules": "ok"}
    assert re.search(r'id="patch-2".*?<a href="/logs/run-\d+/patch-002-build.log">ok</a>', html, re.S)
    # findings with file:line and the guide's sentence
    assert "<code>src/libvirt-domain.c:408</code>" in html and "<blockquote>MUST call virResetLastError();" in html
    assert "Reviewed-by: <bdi>Bob Reviewer &lt;bob@example.org&gt;</bdi>" in html
    assert "eve@example.org" in html and "refused: only the series author" in html
    assert '<section id="mails">' in html and "summary" in html
    assert re.search(r'<tr data-run="\d+" class="current">', html) and "new-series" in html
    assert "<details class=\"log\"><summary>build log" in html


def test_range_diff_between_versions_runs_git_on_the_published_branches(web_world: World):
    data = web_world.client.get(f"/api/series/{web_world.v2}/range-diff?from={web_world.v1}").json()
    assert not data["error"], data
    lines = data["text"].splitlines()
    assert re.match(r"1: +\w+ = 1: +\w+ domain: Introduce virDomainReset API", lines[0])
    assert any(re.match(r"3: +\w+ ! 3: +\w+ test: Record", line) for line in lines)
    assert "/* v2 */" in data["text"]
    html = web_world.client.get(f"/series/{web_world.v2}/range-diff?from={web_world.v1}").text
    assert "obj-&gt;state = state; /* v2 */" in html
    assert web_world.client.get(f"/series/{web_world.v2}/range-diff?from=9999").status_code == 404


def test_logs_are_paged_truncated_and_raw(web_world: World):
    root = web_world.settings.logs_dir
    big = root / "run-x" / "big.log"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(b"".join(b"line %06d <b>bold</b>\n" % i for i in range(40000)))  # ~1 MB
    page = web_world.client.get("/logs/run-x/big.log")
    assert page.status_code == 200 and "line 000000 &lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "line 039999" not in page.text and f"?offset={logs.PAGE}" in page.text and "?raw=1" in page.text
    chunk = web_world.client.get(f"/api/logs/run-x/big.log?offset={logs.PAGE}").json()
    assert chunk["offset"] == logs.PAGE and chunk["size"] == big.stat().st_size and chunk["next_offset"]
    raw = web_world.client.get("/logs/run-x/big.log?raw=1")
    assert raw.content == big.read_bytes() and raw.headers["content-type"].startswith("text/plain")
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert web_world.client.get("/logs/..%2F..%2Fseriesbot.db").status_code == 404
    assert logs.resolve(root, "../seriesbot.db") is None and logs.resolve(root, "/etc/passwd") is None
    tail = logs.tail(root, "run-x/big.log")
    assert tail is not None and tail[1] and tail[0].startswith("line ") and tail[0].endswith("039999 <b>bold</b>\n")


def test_feed_lists_finished_runs_and_badge_shows_the_state(web_world: World):
    feed = web_world.client.get("/feeds/demo.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert titles == ["[fail] domain: add virDomainReset API v2", "[fail] domain: add virDomainReset API v1"]
    assert web_world.client.get("/feeds/nope.atom").status_code == 404
    badge = web_world.client.get(f"/series/{web_world.v2}/badge.svg")
    assert badge.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(badge.content)
    assert "failed" in "".join(svg.itertext())


def test_overview_counts_series_runs_and_workers(web_world: World):
    data = web_world.client.get("/api/projects").json()
    demo = next(p for p in data["projects"] if p["name"] == "demo")
    assert (demo["series_day"], demo["series_week"], demo["failed_week"], demo["queued_runs"]) == (2, 2, 1, 0)
    alive = {w["name"]: w["alive"] for w in data["workers"]}
    assert alive == {"build0@host": True, "old@host": False}
    html = web_world.client.get("/projects").text
    assert "build0@host" in html and "alive" in html and "gone" in html and f"/runs/{web_world.v2_run}" in html


def test_api_has_everything_the_page_has(web_world: World):
    c = web_world.client
    listing = c.get("/api/series", params={"q": "state:failed"}).json()
    assert [s["id"] for s in listing["series"]] == [web_world.v2] and listing["query"] == "state:failed"
    assert [p["verdict"] for p in listing["series"][0]["patches"]] == ["ok", "fail", "fail", "fail"]
    assert c.get("/api/series", params={"q": "state:faild"}).status_code == 400
    detail = c.get(f"/api/series/{web_world.v2}").json()
    run = c.get(f"/api/runs/{web_world.v2_run}").json()
    assert detail["runs"][0] == run
    assert [m["build"] for m in run["matrix"]] == ["ok", "ok", "ok", "fail"]
    assert run["upstream_sha"] and run["duration"] is not None and run["branch"]
    lookup = c.get("/api/patch-results", params={"msgid": "<w2-2@example.org>"}).json()
    assert lookup["patch_index"] == 2 and lookup["series_id"] == web_world.v2 and lookup["run"]["id"] == run["id"]
    assert lookup["url"].endswith(f"/series/{web_world.v2}#patch-2")
    assert c.get("/api/patch-results", params={"msgid": "w2-0@example.org"}).json()["patch_index"] is None
    assert c.get("/api/patch-results", params={"msgid": "nobody@x"}).status_code == 404
    assert c.get("/api/series/9999").status_code == 404 and c.get("/api/runs/9999").status_code == 404


def test_live_token_is_the_pages_until_something_moves(web_world: World):
    html = web_world.client.get(f"/series/{web_world.v2}").text
    token = re.search(r'data-live="([^"]*)"', html)
    assert token is not None
    live = web_world.client.get(f"/api/series/{web_world.v2}/live").json()
    assert live["live"] == token.group(1).replace("&#39;", "'") and live["active"] is False
    fragment = web_world.client.get(f"/series/{web_world.v2}/fragment").text
    assert 'id="matrix"' in fragment and "<html" not in fragment


def test_openapi_is_served_at_a_stable_url(web_world: World):
    schema = web_world.client.get("/api/openapi.json").json()
    for path in ("/api/projects", "/api/series", "/api/series/{series_id}", "/api/runs/{run_id}",
                 "/api/logs/{path}", "/api/patch-results", "/api/series/{series_id}/retest",
                 "/api/runs/{run_id}/cancel", "/api/series/{series_id}/range-diff", "/api/series/{series_id}/live"):
        assert path in schema["paths"], path
    assert "SeriesRow" in schema["components"]["schemas"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_security_headers(web_world: World):
    response = web_world.client.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_cli_series_uses_the_same_query_language(web_world: World, capsys):
    config = str(web_world.settings.config_path)
    assert cli_main(["--config", config, "series", "state:failed", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in data["series"]] == [web_world.v2]
    assert cli_main(["--config", config, "series", "project:demo"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "+FFF" in out[0] and "superseded" in out[1]
    assert cli_main(["--config", config, "series", "state:faild"]) == 2
