"""Each patch's verdict posted as a Patchwork check, against a small local Patchwork stand-in that
checks every request: the patch found by Message-ID, then one check per patch with the token."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.db.models import FindingRow, Message, Patch, PatchResult, Run, Series
from bot.db.session import init_db, session_scope
from bot.report.patchwork import CheckInput, check_payload, post_checks, token_env_name
from bot.settings import load_settings
from tests.stack import write_config

TOKEN = "pw-secret-token"
KNOWN = {"p1@x": 101, "p2@x": 102}  # p3@x is not in Patchwork (yet)


class Patchwork(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, dict, object]] = []
    fail_posts = False

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        return self.headers.get("Authorization") == f"Token {TOKEN}"

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        Patchwork.requests.append(("GET", url.path, query, None))
        if url.path != "/api/patches/" or query.get("project") != "pw-lib-link" or "<" in query.get("msgid", "<"):
            return self._reply(400, {"detail": "bad query"})
        pid = KNOWN.get(query["msgid"])
        self._reply(200, [{"id": pid, "msgid": f"<{query['msgid']}>"}] if pid else [])

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Patchwork.requests.append(("POST", self.path, dict(self.headers), body))
        if not self._authorised():
            return self._reply(403, {"detail": "You do not have permission to perform this action."})
        if Patchwork.fail_posts:
            return self._reply(503, {"detail": "down"})
        if set(body) != {"state", "context", "target_url", "description"} or \
                body["state"] not in ("pending", "success", "warning", "fail"):
            return self._reply(400, {"detail": "bad check"})
        self._reply(201, {"id": len(Patchwork.requests), **body})


@pytest.fixture
def patchwork():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Patchwork)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Patchwork.requests, Patchwork.fail_posts = [], False
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def project_file(name: str, url: str) -> str:
    return (f'name = "{name}"\nlist_id = "{name}.test"\nlist_address = "{name}@test"\nupstream = "/nonexistent"\n'
            f'patchwork_url = "{url}"\npatchwork_project = "pw-lib-link"\n')


@pytest.fixture
def settings(tmp_path, patchwork):
    config = write_config(tmp_path / "pw", smtp_port=1, web_port=2, relay_port=3,
                          extra_projects={"pw-lib": project_file("pw-lib", patchwork)})
    s = load_settings(config, env={})
    init_db(s.database_url)
    return s


def a_run(settings, project: str = "pw-lib") -> int:
    with session_scope(settings.database_url) as session:
        series = Series(project=project, title="t", norm_title="t", author_email="a@x", total=3, state="failed")
        session.add(series)
        session.flush()
        run = Run(series_id=series.id, project=project, state="done", verdict="fail")
        session.add(run)
        session.flush()
        for index, (verdict, apply) in enumerate([("ok", "ok"), ("warn", "ok"), ("fail", "fail")], start=1):
            msg = Message(message_id=f"p{index}@x-{run.id}", source="test", raw=b"")
            session.add(msg)
            session.flush()
            patch = Patch(series_id=series.id, index=index, message_id=f"p{index}@x", message_pk=msg.id,
                          subject=f"[PATCH {index}/3] x")
            session.add(patch)
            session.flush()
            result = PatchResult(run_id=run.id, patch_id=patch.id, index=index, apply=apply, verdict=verdict,
                                 build="ok" if apply == "ok" else "skip", test="ok" if apply == "ok" else "skip",
                                 rules=verdict if apply == "ok" else "skip",
                                 details={"apply_note": "does not apply on main"} if apply == "fail" else {})
            if verdict == "warn":
                result.findings = [FindingRow(rule_id="r", severity="warning", path="a.c", line=3, message="m")]
            session.add(result)
        return run.id


def test_each_verdict_is_posted_as_a_check(settings):
    run_id = a_run(settings)
    posted = post_checks(settings, run_id, env={token_env_name("pw-lib"): TOKEN})
    assert [(p.index, p.patchwork_id, p.state, p.ok) for p in posted] == [
        (1, 101, "success", True), (2, 102, "warning", True), (3, None, "fail", False)]
    assert posted[2].error == "not found in Patchwork"
    gets = [r for r in Patchwork.requests if r[0] == "GET"]
    assert [g[2]["msgid"] for g in gets] == ["p1@x", "p2@x", "p3@x"]
    posts = [r for r in Patchwork.requests if r[0] == "POST"]
    assert [p[1] for p in posts] == ["/api/patches/101/checks/", "/api/patches/102/checks/"]
    for _, _, headers, body in posts:
        assert headers["Authorization"] == f"Token {TOKEN}"
        assert body["context"] == "seriesbot"
        assert body["target_url"].startswith(f"http://127.0.0.1:2/series/1?run={run_id}#patch-")
    assert posts[1][3]["description"] == "apply ok, build ok, test ok, rules warn, 1 finding(s)"


def test_http_errors_are_returned_not_raised(settings):
    Patchwork.fail_posts = True
    posted = post_checks(settings, a_run(settings), env={token_env_name("pw-lib"): TOKEN})
    assert [p.ok for p in posted] == [False, False, False] and "503" in posted[0].error
    wrong = post_checks(settings, a_run(settings), env={token_env_name("pw-lib"): "wrong"})
    assert "403" in wrong[0].error


def test_nothing_is_posted_without_an_instance_or_a_token(settings, bot_settings):
    assert post_checks(settings, a_run(settings), env={}) == []
    assert post_checks(bot_settings, a_run(bot_settings, project="demo"), env={token_env_name("demo"): TOKEN}) == []
    assert post_checks(settings, 999, env={}) == []
    assert Patchwork.requests == []


def test_check_payload_is_capped_and_maps_states():
    long = CheckInput(1, "m", "skip", "skip", "skip", "skip", "skip", 0, "x" * 500)
    payload = check_payload(long, "http://t/")
    assert payload["state"] == "warning" and len(payload["description"]) == 250
    assert check_payload(CheckInput(1, "m", "running", "ok", "ok", "ok", "ok", 0, ""), "u")["state"] == "pending"


def test_posting_after_the_report_commits(settings, monkeypatch):
    from bot.report.patchwork import post_checks_after_commit

    # the token comes from the environment, read once by load_settings
    settings = load_settings(settings.config_path, env={token_env_name("pw-lib"): TOKEN})
    assert settings.project("pw-lib").patchwork_token == TOKEN
    run_id = a_run(settings)
    with pytest.raises(RuntimeError):
        with session_scope(settings.database_url) as session:
            assert post_checks_after_commit(session, settings, session.get(Run, run_id))
            raise RuntimeError("the report failed")
    assert Patchwork.requests == []  # rolled back: nothing posted
    with session_scope(settings.database_url) as session:
        post_checks_after_commit(session, settings, session.get(Run, run_id))
        assert Patchwork.requests == []  # not before the commit
    assert len([r for r in Patchwork.requests if r[0] == "POST"]) == 2
