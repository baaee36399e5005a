"""Production faults with real processes on loopback: Redis and PostgreSQL of our own (so they can
be killed), `seriesbot smtp`, `web`, a light worker and two build workers, series posted with
git send-email, replies collected on an aiosmtpd relay. Each test ends by checking the database and
the relay: counts equal to what was sent, no duplicate Message-IDs, no run left running."""

from __future__ import annotations

import collections
import re
import signal
import smtplib
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.demo.upstream import series_files
from tests.e2e.test_end_to_end import _with_message_ids
from tests.helpers import make_mail, patch_body, wait_for, wait_port
from tests.services import PrivatePostgres, PrivateRedis
from tests.stack import Stack, git_send_email, make_stack

SLOW_BUILD = ["sh", "-c", 'sleep 1; exec ninja -C "$0"', "{build}"]
PATCHES = 4


@pytest.fixture
def services(tmp_path: Path):
    redis = PrivateRedis(tmp_path / "redis")
    pg = PrivatePostgres()
    redis.start()
    pg.init()
    yield redis, pg
    redis.stop()
    pg.remove()


def _stack(tmp_path: Path, services, **kw) -> Stack:
    redis, pg = services
    stack = make_stack(tmp_path / "stack", database_url=pg.url, broker_url=redis.url, echo=False, lease_seconds=4, **kw)
    return stack


def _db(stack: Stack, sql: str) -> list:
    engine = create_engine(stack.settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _check_end_state(stack: Stack, series_count: int) -> None:
    replies = stack.replies()
    ids = [m["Message-ID"] for m in replies]
    assert len(ids) == len(set(ids)), "a mail was sent twice"
    per_target = collections.Counter(m["In-Reply-To"] for m in replies)
    assert all(c == 1 for c in per_target.values()), per_target
    assert len(replies) == series_count * (PATCHES + 1)
    assert _db(stack, "select count(*) from run where state in ('running', 'queued')")[0][0] == 0
    assert _db(stack, "select count(*) from outbound_mail where state <> 'sent'")[0][0] == 0


def _send(stack: Stack, tmp_path: Path, tag: str) -> None:
    """The sample series under its own title and patch subjects: the same author's series with the
    same title or mostly the same patch subjects is a new version of the first, which it replaces."""
    files = _with_message_ids(series_files(), tmp_path / tag, tag)
    for path in files:
        path.write_text(re.sub(r"^(Subject: \[PATCH \d+/4\] )", rf"\g<1>{tag}: ", path.read_text(), count=1,
                               flags=re.M))
    git_send_email(files, stack.smtp_port, cwd=tmp_path)


def _running_on(stack: Stack) -> tuple[int, str, int]:
    """(run id, worker name, patches done) of the running run, once it has finished a patch."""
    def probe():
        rows = _db(stack, "select r.id, r.worker, count(p.id) from run r left join patch_result p on p.run_id = r.id "
                          "where r.state = 'running' group by r.id, r.worker")
        return rows[0] if rows and rows[0][2] >= 1 else None
    return wait_for(probe, 120, interval=0.1, what="a run with a finished patch")


def test_kill_9_a_worker_mid_build_the_other_finishes_without_rebuilding(tmp_path, services):
    stack = _stack(tmp_path, services, build_command=SLOW_BUILD)
    stack.relay.refuse_with = "421 4.3.2 relay down"  # and the relay is down meanwhile (fault 5)
    try:
        stack.start_all(workers=2)
        _send(stack, tmp_path, "kill")
        run_id, worker, _done = _running_on(stack)
        first = _db(stack, f"select id, index from patch_result where run_id = {run_id} order by index")
        stack.stop(worker, signal.SIGKILL)
        time.sleep(3)
        stack.relay.refuse_with = None
        stack.wait_replies(PATCHES + 1, timeout=240)
        time.sleep(3)
        rows = _db(stack, f"select worker, state from run where id = {run_id}")
        assert rows[0][1] == "done" and rows[0][0] != worker
        after = _db(stack, f"select id, index from patch_result where run_id = {run_id} order by index")
        assert [r for r in after if r in first] == first, "a patch finished before the kill was redone"
        assert len(after) == PATCHES
        _check_end_state(stack, 1)
    finally:
        stack.stop_all()


def test_redis_restart_costs_time_not_work(tmp_path, services):
    redis, _pg = services
    stack = _stack(tmp_path, services, build_command=SLOW_BUILD)
    try:
        stack.start_all(workers=1)
        _send(stack, tmp_path, "r1")
        _send(stack, tmp_path, "r2")  # queued behind the first
        _running_on(stack)
        redis.restart()  # every queued task is gone
        stack.wait_replies(2 * (PATCHES + 1), timeout=300)
        time.sleep(3)
        _check_end_state(stack, 2)
    finally:
        stack.stop_all()


def test_postgres_down_means_451_then_everything_resumes(tmp_path, services):
    _redis, pg = services
    stack = _stack(tmp_path, services)
    try:
        stack.start_all(workers=1)
        pg.stop()
        raw = make_mail("[PATCH] util: during the outage", msgid="outage@example.org", body=patch_body())
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], raw)
        assert refused.value.smtp_code == 451
        time.sleep(15)
        pg.start()
        pg.wait_ready()
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as smtp:  # the list server retries
            smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], raw)
        _send(stack, tmp_path, "pg")
        replies = stack.wait_replies(PATCHES + 1 + 2, timeout=240)
        time.sleep(3)
        assert len(stack.replies()) == PATCHES + 3 == len({m["Message-ID"] for m in replies})
        assert _db(stack, "select count(*) from message where message_id = 'outage@example.org'")[0][0] == 1
    finally:
        stack.stop_all()


def test_smtp_killed_between_store_and_enqueue_the_mail_is_ingested_anyway(tmp_path, services):
    stack = _stack(tmp_path, services)
    try:
        stack.start_all(workers=1)
        stack.stop("smtp")
        stack.env["SERIESBOT_FAULT"] = "crash-after-store"
        stack.start("smtp", "smtp")
        wait_port(stack.smtp_port, 60)
        raw = make_mail("[PATCH] util: crash", msgid="crash@example.org", body=patch_body())
        with pytest.raises((smtplib.SMTPException, OSError)):
            with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=30) as smtp:
                smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], raw)
        assert _db(stack, "select status from message where message_id = 'crash@example.org'") == [("stored",)]
        wait_for(lambda: _db(stack, "select status from message where message_id = 'crash@example.org'")
                 == [("parsed",)], 60, what="the reconciler to ingest the stored mail")
        assert _db(stack, "select count(*) from series")[0][0] == 1
    finally:
        stack.env.pop("SERIESBOT_FAULT", None)
        stack.stop_all()


def test_sigterm_finishes_the_step_and_hands_the_run_back(tmp_path, services):
    stack = _stack(tmp_path, services, build_command=SLOW_BUILD)
    try:
        stack.start_all(workers=1)
        _send(stack, tmp_path, "term")
        run_id, worker, _ = _running_on(stack)
        stack.stop(worker, signal.SIGTERM)  # waits for the process to exit
        state = _db(stack, f"select state from run where id = {run_id}")[0][0]
        assert state == "queued", state
        stack.start("build9", "worker", "--queues", "build", "--pool", "solo", "--no-reconcile", "--name", "build9")
        stack.wait_replies(PATCHES + 1, timeout=240)
        time.sleep(2)
        _check_end_state(stack, 1)
    finally:
        stack.stop_all()


def test_burst_of_200_series_from_8_clients(tmp_path, services):
    stack = _stack(tmp_path, services, build_command=["true"])
    try:
        stack.start_all(workers=1)
        mails = []
        for s in range(200):
            cover = f"burst{s}-0@example.org"
            mails.append(make_mail(f"[PATCH 0/4] area{s}: burst {s}", msgid=cover, body="Blurb.\n"))
            for i in range(1, 5):
                mails.append(make_mail(f"[PATCH {i}/4] area{s}: part {i}", msgid=f"burst{s}-{i}@example.org",
                                       in_reply_to=cover, body=patch_body(path=f"src/b{s}_{i}.c")))
        latencies: list[float] = []

        def client(chunk: list[bytes]) -> None:
            with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=120) as smtp:
                for raw in chunk:
                    smtp.sendmail("ada@example.org", ["devel@demo.seriesbot.test"], raw)

        def dashboard() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                started = time.monotonic()
                response = httpx.get(f"{stack.web}/api/series", timeout=30)
                assert response.status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.2)

        started = time.monotonic()
        with ThreadPoolExecutor(9) as pool:
            probe = pool.submit(dashboard)
            list(pool.map(client, [mails[i::8] for i in range(8)]))
            probe.result()
        sent = time.monotonic() - started
        assert _db(stack, "select count(*) from message")[0][0] == 1000
        wait_for(lambda: _db(stack, "select count(*) from series where state not in ('partial')")[0][0] == 200, 120,
                 what="200 assembled series")
        assert _db(stack, "select count(*) from patch")[0][0] == 800
        p95 = statistics.quantiles(latencies, n=20)[-1]
        print(f"\nFIGURE burst: 1000 mails from 8 clients in {sent:.1f} s ({1000 / sent:.0f}/s); "
              f"dashboard p95 {p95 * 1000:.0f} ms over {len(latencies)} requests")
    finally:
        stack.stop_all()
        subprocess.run(["true"])
