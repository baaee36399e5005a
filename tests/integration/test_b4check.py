"""`seriesbot b4-check` as b4 runs it: a patch mail on stdin, b4's JSON array on stdout, looked up
on a running dashboard over HTTP; and through b4's own check runner (b4.review.checks)."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from bot.integrations.b4check import checks_for, message_id
from tests.fixtures_demo import demo_mails
from tests.helpers import free_port, wait_port
from tests.integration.test_web_fixtures import (
    World,
    as_v2,
    web_world_fixture,  # noqa: F401  (the web_world fixture)
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(web_world: World) -> Iterator[str]:
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(web_world.client.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def b4_check(url: str, mail: bytes) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "b4-check", "--url", url], input=mail,
                          capture_output=True, cwd=ROOT, timeout=60)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def v2_mails() -> dict[int, bytes]:
    return dict(enumerate(as_v2(raw) for raw in demo_mails("w2")))


def by_tool(results: list[dict]) -> dict[str, dict]:
    return {r["tool"]: r for r in results}


def test_each_patch_gets_build_test_and_rules_entries(server: str, web_world: World):
    mails = v2_mails()
    outputs = {}
    for index in (1, 2, 3, 4):
        code, out, err = b4_check(server, mails[index])
        assert code == 0, err
        outputs[index] = json.loads(out)
        for entry in outputs[index]:
            assert set(entry) <= {"tool", "status", "summary", "url", "details"}
            assert entry["status"] in ("pass", "warn", "fail")
            assert entry["url"] == f"http://127.0.0.1:2/series/{web_world.v2}#patch-{index}"
    one = by_tool(outputs[1])
    assert {t: e["status"] for t, e in one.items()} == {"seriesbot/build": "pass", "seriesbot/test": "pass",
                                                        "seriesbot/rules": "pass"}
    rules = by_tool(outputs[2])["seriesbot/rules"]
    assert rules["status"] == "fail" and rules["summary"] == "1 error(s)"
    assert "src/libvirt-domain.c:408: error:" in rules["details"] and "MUST call virResetLastError();" in rules["details"]
    test = by_tool(outputs[3])["seriesbot/test"]
    assert test["status"] == "fail" and test["summary"].startswith("1 test(s) failed: domain-state")
    four = by_tool(outputs[4])
    assert four["seriesbot/build"]["status"] == "fail" and "VIR_DOMAIN_PAUSE" in four["seriesbot/build"]["details"]
    assert "seriesbot/test" not in four  # not run: the build failed


def test_cover_letter_gets_the_series(server: str, web_world: World):
    code, out, _ = b4_check(server, v2_mails()[0])
    [entry] = json.loads(out)
    assert code == 0 and entry["tool"] == "seriesbot" and entry["status"] == "fail"
    assert entry["summary"] == f"v2 run {web_world.v2_run} done: 4 patch(es) tested (1 pass, 3 fail)"
    assert entry["url"].endswith(f"/series/{web_world.v2}")


def test_unknown_mail_and_unreachable_instance(server: str):
    code, out, _ = b4_check(server, b"Message-ID: <nobody@example.org>\nSubject: hi\n\nbody\n")
    assert (code, json.loads(out)) == (0, [])
    assert b4_check(server, b"Subject: no id\n\nbody\n")[1].strip() == "[]"
    code, out, err = b4_check(f"http://127.0.0.1:{free_port()}", v2_mails()[1])
    assert code == 1 and not out and "b4-check" in err


def test_through_b4s_own_check_runner(server: str, tmp_path: Path, monkeypatch):
    checks = pytest.importorskip("b4.review.checks")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(ROOT)  # so `python -m bot.cli` finds the package when b4 runs the command
    msg = email.message_from_bytes(v2_mails()[2], _class=email.message.EmailMessage)
    cmd = f"{sys.executable} -m bot.cli b4-check --url {server}"
    started = time.monotonic()
    results = checks.run_perpatch_checks([("w2-2@example.org", msg)], [cmd], str(ROOT))["w2-2@example.org"]
    assert time.monotonic() - started < 30
    assert by_tool(results)["seriesbot/rules"]["status"] == "fail"
    assert by_tool(results)["seriesbot/build"]["status"] == "pass"


def test_checks_for_a_run_still_going():
    lookup = {"url": "u", "series_state": "running", "patch_index": 3, "version": 1,
              "run": {"id": 7, "state": "running", "results": [], "matrix": [
                  {"index": 3, "apply": "running", "build": "running", "test": "running", "rules": "running",
                   "verdict": "running"}]}}
    assert checks_for(lookup) == [{"tool": "seriesbot", "status": "warn", "summary": "run 7: this patch is running",
                                   "url": "u"}]
    lookup = {"url": "u", "series_state": "incomplete", "patch_index": 1, "version": 1, "run": None}
    assert checks_for(lookup)[0]["summary"] == "not tested: the series is incomplete"
    assert message_id(b"Message-ID:  <a@b>\n\n") == "a@b"
