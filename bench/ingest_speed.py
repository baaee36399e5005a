"""Ingest throughput (a benchmark, not a test).

Generates an archive of N messages (series with cover letters, v2s, review replies with trailers,
plain discussion), then measures in one run:
  1. baseline: bytes -> email.message objects only (the stdlib parser);
  2. parse + assembly: store_message + ingest_message for every message (SQLite), as `import` does;
  3. SMTP: 8 parallel clients sending to `seriesbot smtp`'s handler (store, 250), and a baseline
     aiosmtpd sink that stores nothing, same clients.

    .venv/bin/python -m bench.ingest_speed [--messages 10000] [--smtp-messages 2000]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import random
import smtplib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from aiosmtpd.controller import Controller

from bot.db.session import init_db
from bot.ingest.ingest import ingest_message
from bot.receive.importers import import_messages
from bot.receive.smtp import start_smtp
from bot.receive.store import store_message
from bot.settings import load_settings
from tests.helpers import free_port, make_mail, patch_body
from tests.stack import write_config


def archive(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    mails: list[bytes] = []
    series = 0
    while len(mails) < n:
        series += 1
        author = f"Dev {series % 97} <dev{series % 97}@example.org>"
        total = rng.randint(1, 8)
        version = rng.choice([1, 1, 1, 2, 3])
        v = f" v{version}" if version > 1 else ""
        cover = f"s{series}-0@bench"
        title = f"area{series % 13}: change number {series}"
        if total > 1:
            mails.append(make_mail(f"[PATCH{v} 0/{total}] {title}", msgid=cover, sender=author, body="Blurb.\n"))
        for i in range(1, total + 1):
            subject = f"[PATCH{v} {i}/{total}] {title} part {i}" if total > 1 else f"[PATCH{v}] {title}"
            mails.append(make_mail(subject, msgid=f"s{series}-{i}@bench", sender=author,
                                   in_reply_to=cover if total > 1 else None,
                                   body=patch_body(path=f"src/f{series}_{i}.c", new=f"y{series}",
                                                   signoff=author)))
        for r in range(rng.randint(0, 3)):
            target = f"s{series}-{rng.randint(1, total)}@bench"
            body = "> quoted\n\nLooks fine.\n" + ("Reviewed-by: Rev <rev@example.org>\n" if r % 2 == 0 else "")
            mails.append(make_mail(f"Re: {title}", msgid=f"s{series}-r{r}@bench", sender="Rev <rev@example.org>",
                                   in_reply_to=target, body=body))
        if rng.random() < 0.2:
            mails.append(make_mail(f"question {series}", msgid=f"q{series}@bench", sender=author, body="Hi all?\n"))
    return mails[:n]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def smtp_blast(port: int, mails: list[bytes], clients: int = 8) -> float:
    chunks = [mails[i::clients] for i in range(clients)]

    def send(chunk: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for raw in chunk:
                smtp.sendmail("dev@example.org", ["devel@demo.seriesbot.test"], raw)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    return time.perf_counter() - started


class _Sink:
    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--smtp-messages", type=int, default=2000)
    args = parser.parse_args()
    mails = archive(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), smtp_port=free_port(), web_port=2, relay_port=3)
        settings = load_settings(config, env={})
        init_db(settings.database_url)

        started = time.perf_counter()
        for raw in mails:
            email.message_from_bytes(raw, policy=email.policy.compat32)
        baseline = rate(len(mails), time.perf_counter() - started)

        started = time.perf_counter()
        report = import_messages(mails, settings, source="bench")
        statuses = report.statuses
        ingest = rate(len(mails), time.perf_counter() - started)

        # the same work one transaction per message, as SMTP delivery then a Celery ingest task does it
        one_by_one = [m.replace(b"@bench>", b"@single>") for m in mails[:1000]]
        started = time.perf_counter()
        for raw in one_by_one:
            outcome = store_message(raw, settings, source="bench", enqueue=False)
            ingest_message(outcome.message_pk, settings)
        single = rate(len(one_by_one), time.perf_counter() - started)

        smtp_mails = [m.replace(b"@bench>", b"@smtp-bench>") for m in archive(args.smtp_messages, seed=11)]
        sink = Controller(_Sink(), hostname="127.0.0.1", port=free_port())
        sink.start()
        sink_rate = rate(len(smtp_mails), smtp_blast(sink.port, smtp_mails))
        sink.stop()
        smtp_settings = replace(settings, smtp_in=replace(settings.smtp_in, port=free_port()))
        controller, _ = start_smtp(smtp_settings)
        smtp_rate = rate(len(smtp_mails), smtp_blast(smtp_settings.smtp_in.port, smtp_mails))
        controller.stop()
    print(f"messages: {len(mails)} ({statuses})")
    print(f"baseline stdlib parse only:        {baseline:8.0f} msg/s")
    print(f"parse + assembly, import (batched): {ingest:8.0f} msg/s  = {ingest / baseline:.3f} x baseline, "
          f"{ingest / 300:.2f} x the 300/s target")
    print(f"parse + assembly, one message per transaction: {single:8.0f} msg/s = {single / ingest:.2f} x batched")
    print(f"SMTP sink, 8 clients (no storage): {sink_rate:8.0f} msg/s")
    print(f"SMTP seriesbot, 8 clients (250 after commit): {smtp_rate:8.0f} msg/s = {smtp_rate / sink_rate:.2f} x sink, "
          f"{smtp_rate / 100:.2f} x the 100/s target")


if __name__ == "__main__":
    main()
