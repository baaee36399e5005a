"""End-to-end latency of the sample series (a benchmark, not a test).

Starts a real stack (embedded default unless --redis-postgres), posts the sample series with
git send-email twice (cold: no mirror, no build directory; warm: both kept, upstream verdict cached),
and prints the time from the 250 of the last patch to the last reply, per-patch step durations, and
the warm/cold ratio.

    .venv/bin/python -m bench.e2e_latency [--redis-postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bot.demo.upstream import series_files
from tests.e2e.test_end_to_end import _redis_url, _with_message_ids
from tests.stack import drop_postgres, fresh_postgres_url, git_send_email, make_stack


def one_round(stack, files: list[Path], expected_total: int) -> tuple[float, float]:
    before = len(stack.replies())
    started = time.monotonic()
    git_send_email(files, stack.smtp_port, cwd=files[0].parent)
    sent = time.monotonic()
    stack.wait_replies(before + expected_total, timeout=300)
    done = time.monotonic()
    return sent - started, done - sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        pg = None
        if args.redis_postgres:
            url, pg = fresh_postgres_url()
            stack = make_stack(base, database_url=url, broker_url=_redis_url(), echo=False)
        else:
            stack = make_stack(base, echo=False)
        stack.start_all()
        try:
            files = series_files()
            cold = one_round(stack, _with_message_ids(files, base / "cold", "cold"), len(files))
            # a v2 with new Message-IDs: a new run on a warm build directory and a cached upstream verdict
            warm = one_round(stack, _with_message_ids(files, base / "warm", "warm"), len(files))
            runs = stack.api("/api/series")["series"]
            print(f"stack: {'redis+postgres' if args.redis_postgres else 'embedded (sqlite + filesystem broker)'}")
            print(f"cold: send {cold[0]:.2f} s, last 250 -> last reply {cold[1]:.2f} s")
            print(f"warm: send {warm[0]:.2f} s, last 250 -> last reply {warm[1]:.2f} s")
            print(f"warm/cold ratio: {warm[1] / cold[1]:.2f}")
            for row in runs:
                detail = stack.api(f"/api/series/{row['id']}")
                for r in detail["runs"][0]["results"]:
                    print(f"  series {row['id']} patch {r['index']}: {r['durations']}")
        finally:
            stack.stop_all()
            if pg:
                drop_postgres(pg)


if __name__ == "__main__":
    main()
