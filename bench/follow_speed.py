"""Following a list's public-inbox archive (a benchmark, not a test).

Builds a real public-inbox v2 inbox of N messages (bench.ingest_speed's archive: series with cover
letters, v2s, review replies, discussion) through public-inbox's own writer, serves it with
public-inbox-httpd on 127.0.0.1, then measures in one run:
  1. baselines: `git clone --mirror` of the epoch alone (the transfer following cannot avoid), and
     the same messages through the batched mbox import (parse + assembly, no git) into a fresh
     database;
  2. following from scratch over HTTP (manifest, mirror, read every commit, store, assemble) into
     another fresh database: msg/s, against the import and the 300 msg/s target;
  3. one new message: the follower loop of the light worker runs (inbox_poll 0.2 s); one message
     goes in with public-inbox-mda; the time from the archive commit (mda's return) to the row in
     the database, K times: median and max, against the 2 s target.

    .venv/bin/python -m bench.follow_speed [--messages 10000] [--new 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from bench.ingest_speed import archive
from bot.db.models import Message
from bot.db.session import init_db, session_scope
from bot.receive.follow import follow_project, start_follower
from bot.receive.importers import import_messages
from bot.settings import Settings, load_settings
from tests.helpers import make_mail
from tests.publicinbox import PublicInbox
from tests.stack import write_config


def fresh_settings(base: Path, url: str, database_url: str | None) -> Settings:
    config = write_config(base, smtp_port=1, web_port=2, relay_port=3)
    env = {"DATABASE_URL": database_url} if database_url else {}
    settings = load_settings(config, env=env)
    project = replace(settings.project("demo"), inbox_url=url, inbox_poll=0.2)
    settings = replace(settings, projects={"demo": project})
    init_db(settings.database_url)
    return settings


def stored(settings: Settings, msgid: str) -> bool:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(Message.id).where(Message.message_id == msgid)) is not None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="a fresh, empty PostgreSQL database (default SQLite)")
    args = parser.parse_args()
    mails = archive(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        inbox = PublicInbox(base / "pi", address="devel@demo.seriesbot.test").create()
        started = time.perf_counter()
        inbox.add_many(mails, timeout=3600)
        made = time.perf_counter() - started
        url = inbox.serve()
        try:
            started = time.perf_counter()
            subprocess.run(["git", "clone", "--mirror", "-q", f"{url}/git/0.git", str(base / "clone.git")],
                           check=True, timeout=600)
            clone = time.perf_counter() - started

            importing = fresh_settings(base / "import", url, None)
            started = time.perf_counter()
            imported = import_messages(mails, importing, source="mbox", envelope_to=["devel@demo.seriesbot.test"])
            import_rate = len(mails) / (time.perf_counter() - started)

            settings = fresh_settings(base / "follow", url, args.database_url)
            project = settings.project("demo")
            started = time.perf_counter()
            report = follow_project(project, settings)
            follow_seconds = time.perf_counter() - started
            follow_rate = report.stored / follow_seconds

            stop = threading.Event()
            start_follower(settings, stop)
            latencies = []
            for n in range(args.new):
                msgid = f"new-{n}@bench"
                raw = make_mail(f"[PATCH] bench: new {n}", msgid=msgid, body="new\n")
                inbox.add(raw)  # returns once public-inbox has committed it
                committed = time.perf_counter()
                while not stored(settings, msgid):
                    if time.perf_counter() - committed > 30:
                        raise SystemExit(f"{msgid} not stored after 30 s")
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - committed)
            stop.set()
        finally:
            inbox.stop()
    db = (args.database_url or "sqlite").split(":")[0]
    print(f"messages: {len(mails)} (public-inbox wrote them in {made:.0f} s); database {db}")
    print(f"baseline git clone --mirror of the epoch:  {clone:6.2f} s")
    print(f"baseline batched import (parse+assembly):  {import_rate:6.0f} msg/s ({imported.statuses})")
    print(f"follow from scratch over HTTP:             {follow_rate:6.0f} msg/s in {follow_seconds:.1f} s "
          f"= {follow_rate / import_rate:.2f} x import, {follow_rate / 300:.2f} x the 300/s target "
          f"(stored {report.stored}, history {report.history}, duplicates {report.duplicates})")
    print(f"one new message, archive commit -> stored: median {statistics.median(latencies):.2f} s, "
          f"max {max(latencies):.2f} s over {len(latencies)} = {max(latencies) / 2:.2f} x the 2 s target")


if __name__ == "__main__":
    main()
