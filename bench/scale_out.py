"""Scale-out (a benchmark, not a test): twenty small series on two projects, processed by one build
worker, then by two (concurrency 1 each, each pinned to its own core with taskset), on Redis +
PostgreSQL. Prints the throughput of each and the ratio.

    .venv/bin/python -m bench.scale_out [--series 20]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bot.demo.upstream import series_files
from tests.e2e.test_end_to_end import _redis_url, _with_message_ids
from tests.stack import drop_postgres, fresh_postgres_url, git_send_email, make_stack

SECOND = """
name = "demo2"
list_id = "devel.demo2.seriesbot.test"
list_address = "devel@demo2.seriesbot.test"
upstream = "demo2-upstream.git"
branch = "main"
demo = true

[rules]
profiles = ["generic", "libvirt"]
"""


def one_round(base: Path, workers: int, series: int) -> float:
    url, pg = fresh_postgres_url()
    stack = make_stack(base, database_url=url, broker_url=_redis_url(), echo=False)
    (stack.settings.config_path.parent / "projects" / "demo2.toml").write_text(SECOND)
    try:
        stack.start("smtp", "smtp")
        stack.start("web", "web")
        stack.start("light", "worker", "--queues", "light", "--pool", "threads", "--concurrency", "4")
        for i in range(workers):
            stack.start(f"build{i}", "worker", "--queues", "build", "--pool", "solo", "--concurrency", "1",
                        "--no-reconcile", "--name", f"build{i}", prefix=["taskset", "-c", str(i % 2)])
        from tests.helpers import wait_port

        wait_port(stack.smtp_port, 60)
        time.sleep(3)
        files = series_files()
        started = time.monotonic()
        for n in range(series):
            project = "demo" if n % 2 == 0 else "demo2"
            copies = _with_message_ids(files, base / f"s{n}", f"s{n}")
            for path in copies:
                text = path.read_text().replace("devel.demo.seriesbot.test", f"devel.{project}.seriesbot.test")
                if path is copies[0]:
                    text = text.replace("[PATCH 0/4] ", f"[PATCH 0/4] series {n}: ")
                path.write_text(text)
            git_send_email(copies, stack.smtp_port, to=f"devel@{project}.seriesbot.test", cwd=base)
        stack.wait_replies(series * 5, timeout=1800)
        return time.monotonic() - started
    finally:
        stack.stop_all()
        drop_postgres(pg)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=20)
    args = parser.parse_args()
    times = {}
    for workers in (1, 2):
        base = Path(tempfile.mkdtemp(prefix=f"seriesbot-scale{workers}-"))
        try:
            times[workers] = one_round(base, workers, args.series)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print(f"{workers} build worker(s): {args.series} series in {times[workers]:.1f} s = "
              f"{args.series / times[workers] * 60:.1f} series/min", flush=True)
    print(f"two workers / one worker throughput ratio: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()
