"""Import through assembly on a generated archive with ground truth (a benchmark, not a test).

tests/archive_gen.py makes an archive of about N messages (covers or not, deep and shallow threading,
versions, resends, incomplete versions, trailers in replies, absurd counters). Measured in one run,
each on a fresh SQLite database:
  1. baseline: store only (the import's batches without ingest);
  2. `import mbox` (history): store + parse + order-independent assembly, archive order;
  3. the same messages shuffled;
and how many versions came out exactly as the ground truth says.

    .venv/bin/python -m bench.assembly_order [--messages 2500]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bot.db.session import init_db
from bot.receive.importers import import_messages
from bot.settings import load_settings, set_settings
from tests.archive_gen import generate
from tests.stack import write_config


def fresh(base: Path, name: str):  # type: ignore[no-untyped-def]
    folder = base / name
    folder.mkdir()
    settings = load_settings(write_config(folder, smtp_port=1, web_port=2, relay_port=3), env={})
    set_settings(settings)
    init_db(settings.database_url)
    return settings


def exact_versions(settings, archive) -> int:  # type: ignore[no-untyped-def]
    from tests.integration.test_assembly_order import observed, truth_of

    want = truth_of(archive)
    got, _runs = observed(settings)
    return sum(1 for key, value in want.items() if got.get(key) == value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2500)
    args = parser.parse_args()
    topics = max(1, args.messages * 10 // 92)  # about 9.2 messages per topic
    archive = generate(2026, topics=topics, prefix="b")
    mails = archive.mails
    print(f"archive: {len(mails)} messages, {len(archive.series)} versions")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        settings = fresh(base, "baseline")
        from bot.receive import importers

        real = importers.ingest_row
        importers.ingest_row = lambda session, settings, row, pending=None: "stored"  # store only
        started = time.perf_counter()
        import_messages(mails, settings, source="mbox")
        baseline = time.perf_counter() - started
        importers.ingest_row = real
        print(f"baseline (store only):         {len(mails) / baseline:7.0f} msg/s")
        for name, order in (("archive order", list(mails)), ("shuffled", random.Random(1).sample(mails, len(mails)))):
            settings = fresh(base, name.replace(" ", "-"))
            started = time.perf_counter()
            report = import_messages(order, settings, source="mbox")
            took = time.perf_counter() - started
            right = exact_versions(settings, archive)
            print(f"import + assembly, {name:13}: {len(mails) / took:7.0f} msg/s  ({took / baseline:.2f}x the "
                  f"baseline's time; {right}/{len(archive.series)} versions exactly right; {report.statuses})")


if __name__ == "__main__":
    main()
