"""The whole path with real parts: git send-email -> SMTP -> store -> Celery worker -> git am, meson,
ninja, meson test, rules -> outbox -> SMTP relay (the list) -> replies; and the JSON API.

Run twice: on the embedded default (SQLite + filesystem broker) and on Redis + PostgreSQL."""

from __future__ import annotations

import json
import smtplib
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis

from bot.demo.upstream import HERE as DEMO_DIR
from bot.demo.upstream import series_files
from tests.helpers import make_mail, wait_for
from tests.stack import Stack, drop_postgres, fresh_postgres_url, git_send_email, make_stack

EXPECTED = json.loads((DEMO_DIR / "expected.json").read_text())


def _redis_url() -> str:
    db = 1 + uuid.uuid4().int % 14
    client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{db}")
    client.flushdb()
    return f"redis://127.0.0.1:6379/{db}"


@pytest.fixture(params=["embedded", "redis+postgres"])
def stack(request, tmp_path: Path):
    pg_name = None
    if request.param == "embedded":
        s = make_stack(tmp_path)
    else:
        url, pg_name = fresh_postgres_url()
        s = make_stack(tmp_path, database_url=url, broker_url=_redis_url())
    try:
        with s.running(request):
            yield s
    finally:
        if pg_name:
            drop_postgres(pg_name)


def _with_message_ids(src: list[Path], dest: Path, tag: str) -> list[Path]:
    """Copies of the series files with fixed Message-IDs and shallow threading, so that sending them
    twice sends the very same mails."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    cover = f"{tag}-0@example.org"
    for i, path in enumerate(src):
        text = path.read_text()
        head, sep, rest = text.partition("\nSubject:")
        extra = f"\nMessage-ID: <{tag}-{i}@example.org>"
        if i:
            extra += f"\nIn-Reply-To: <{cover}>\nReferences: <{cover}>"
        target = dest / path.name
        target.write_text(head + extra + sep + rest)
        out.append(target)
    return out


def _expected_patch(index: int) -> dict:
    return next(p for p in EXPECTED["patches"] if p["index"] == index)


def test_series_gets_a_reply_on_every_patch_and_a_summary(stack: Stack, tmp_path: Path):
    files = _with_message_ids(series_files(), tmp_path / "series", "e2e")
    started = time.monotonic()
    git_send_email(files, stack.smtp_port, cwd=tmp_path)
    total = len(files) - 1
    replies = stack.wait_replies(total + 1, timeout=240)
    elapsed = time.monotonic() - started

    by_reply_to = {m["In-Reply-To"].strip("<>"): m for m in replies}
    assert len(by_reply_to) == total + 1, [m["Subject"] for m in replies]
    series = wait_for(lambda: stack.api("/api/series")["series"], 10, what="series in the API")
    assert len(series) == 1
    detail = stack.api(f"/api/series/{series[0]['id']}")
    run = detail["runs"][0]
    assert run["state"] == "done"
    results = {r["index"]: r for r in run["results"]}
    for patch in detail["patches"]:
        index = patch["index"]
        reply = by_reply_to[patch["message_id"]]
        expected = _expected_patch(index)
        # threading: Re: the patch subject, In-Reply-To the patch, References the whole chain
        assert reply["Subject"] == f"Re: {patch['subject']}"
        assert patch["message_id"] in reply["References"]
        assert "e2e-0@example.org" in reply["References"]
        assert reply["Auto-Submitted"] == "auto-generated"
        body = reply.get_payload(decode=True).decode()
        result = results[index]
        assert result["apply"] == expected["apply"]
        assert result["build"] == expected["build"]
        assert result["test"] == expected.get("test", "ok" if expected["build"] == "ok" else "skip")
        rule_ids = sorted(f["rule_id"] for f in result["findings"])
        assert rule_ids == sorted(r["id"] for r in expected["rules"]), result["findings"]
        for rule in expected["rules"]:
            finding = next(f for f in result["findings"] if f["rule_id"] == rule["id"])
            assert (finding["path"], finding["line"]) == (rule["path"], rule["line"])
            assert f"{rule['path']}:{rule['line']}" in body and rule["id"] in body
            assert finding["guide"] and " ".join(finding["guide"].split()) in " ".join(body.split())
        if expected.get("failed_tests"):
            assert sorted(t["name"] for t in result["details"]["failed_tests"]) == expected["failed_tests"]
            for name in expected["failed_tests"]:
                assert name in body
        if expected.get("build_error"):
            where = f"{expected['build_error']['path']}:{expected['build_error']['line']}"
            assert any(where in e for e in result["details"]["build_errors"])
            assert where in body
        assert f"{stack.web}/series/{detail['id']}" in body
        assert reply["X-Seriesbot-Result"] == {"ok": "pass", "fail": "fail", "warn": "warn"}[result["verdict"]]
    summary = by_reply_to["e2e-0@example.org"]
    assert summary["Subject"].startswith("Re: [PATCH 0/")
    summary_body = summary.get_payload(decode=True).decode()
    assert f"/series/{detail['id']}" in summary_body
    # the applied series is fetchable from the dashboard over git's dumb HTTP, under the name the summary gives
    assert f"git fetch {stack.web}/git/demo.git {run['branch']}" in summary_body
    refs = subprocess.run(["git", "ls-remote", f"{stack.web}/git/demo.git"], capture_output=True, text=True,
                          timeout=60).stdout
    assert f"refs/heads/{run['branch']}" in refs
    assert refs.split()[0] == results[max(results)]["commit"]
    print(f"\nFIGURE e2e({stack.settings.database_url.split(':')[0]}): send to last reply {elapsed:.1f} s; "
          f"durations {[results[i]['durations'] for i in sorted(results)]}")

    # the list echoed the bot's replies back to it: stored, ignored, no new series
    def echoes_ignored() -> bool:
        return stack.api("/api/series")["total"] == 1 and len(stack.replies()) == total + 1
    time.sleep(3)
    assert echoes_ignored()

    # the same mails again: stored once, no second run, no second set of replies
    git_send_email(files, stack.smtp_port, cwd=tmp_path)
    time.sleep(6)
    assert len(stack.replies()) == total + 1
    detail = stack.api(f"/api/series/{detail['id']}")
    assert len(detail["runs"]) == 1

    # the author replies "seriesbot: retest" through the list: a fresh run; every verdict is the same,
    # so only the summary is mailed, and it says "unchanged"
    retest = make_mail("Re: [PATCH 1/4] x", msgid="retest-1@example.org", in_reply_to=detail["patches"][0]["message_id"],
                       references=["e2e-0@example.org", detail["patches"][0]["message_id"]],
                       body="> old text\n\nseriesbot: retest\n")
    with smtplib.SMTP("127.0.0.1", stack.relay_port, timeout=30) as smtp:
        smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], retest)
    replies = stack.wait_replies(total + 2, timeout=240)
    time.sleep(2)
    assert len(stack.replies()) == total + 2
    unchanged = replies[-1]
    assert unchanged["In-Reply-To"] == "<e2e-0@example.org>"
    assert "Unchanged since run" in unchanged.get_payload(decode=True).decode()
    detail = stack.api(f"/api/series/{detail['id']}")
    assert [r["trigger"] for r in detail["runs"]] == ["retest", "new-series"]
