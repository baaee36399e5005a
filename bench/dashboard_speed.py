"""Server-side time of the dashboard's series list as the database grows (a benchmark, not a test).

Generates series straight into a SQLite database (5 patches, 2 runs and 5 patch results per
series: 10,000 series = 50,000 results), at 1k, 10k and 100k series in turn, and reports the median
time of: the list query alone (bot.web.queries.series_list), the whole page GET / and GET
/api/series through the ASGI app in-process (no network), filtered pages, and a deep page.
Target: median under 50 ms at 10k series, and flat as the database grows.

    .venv/bin/python -m bench.dashboard_speed [--sizes 1000,10000,100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from bot.db.models import FindingRow, Patch, PatchResult, Run, Series
from bot.db.session import get_engine, init_db, session_scope
from bot.settings import Settings, load_settings, set_settings
from bot.web import queries
from bot.web.app import create_app
from bot.web.query import parse
from tests.stack import write_config

PATCHES = 5
T0 = dt.datetime(2025, 1, 1)
STATES = ["passed"] * 5 + ["failed"] * 2 + ["warned", "superseded", "superseded", "incomplete"]
VERDICTS = ["ok"] * 8 + ["warn", "fail"]
OTHER = 'name = "other"\nlist_id = "o.test"\nlist_address = "o@test"\nupstream = "/nonexistent"\n'


def generate(settings: Settings, start: int, count: int, rng: random.Random, chunk: int = 5000) -> None:
    """Series start..start+count-1 with their patches, runs, results and a finding per warn/fail."""
    engine = get_engine(settings.database_url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no Message rows: the list never reads them
        conn.commit()
        for base in range(start, start + count, chunk):
            ids = range(base + 1, min(base + chunk, start + count) + 1)
            series, patches, runs, results, findings = [], [], [], [], []
            for sid in ids:
                author = rng.randrange(300)
                state = rng.choice(STATES)
                series.append(dict(id=sid, project="demo" if sid % 4 else "other", title=f"subsystem{sid % 97}: change "
                                   f"number {sid}", norm_title=f"change number {sid}", author_name=f"Author {author}",
                                   author_email=f"author{author}@example.org", version=1 + sid % 3, total=PATCHES,
                                   state=state, created_at=T0 + dt.timedelta(minutes=sid), missing=[], replies_to=[],
                                   supersedes_msgids=[], based_on=[], prerequisite_patch_ids=[]))
                old_run, run = 2 * sid - 1, 2 * sid
                for rid, rstate in ((old_run, "cancelled"), (run, "done")):
                    runs.append(dict(id=rid, series_id=sid, project=series[-1]["project"], state=rstate,
                                     verdict="fail" if state == "failed" else "ok", options={}))
                for k in range(1, PATCHES + 1):
                    pid = (sid - 1) * PATCHES + k
                    patches.append(dict(id=pid, series_id=sid, index=k, message_id=f"{sid}.{k}@example.org",
                                        message_pk=0, subject=f"[PATCH {k}/{PATCHES}] part {k} of change {sid}",
                                        author_email=f"author{author}@example.org", patch_id=f"{pid:040x}",
                                        trailers=[["Signed-off-by", "x", ""]] + [["Reviewed-by", "r", ""]] * (k % 2)))
                    verdict = rng.choice(VERDICTS)
                    results.append(dict(id=pid, run_id=run, patch_id=pid, index=k, apply="ok", build="ok", test="ok",
                                        rules=verdict, verdict=verdict, details={}, durations={"build": 1.0},
                                        logs={"build": f"run-{run}/patch-{k:03d}-build.log"}))
                    if verdict != "ok":
                        findings.append(dict(result_id=pid, rule_id="generic.whitespace", severity="warning",
                                             path="src/a.c", line=k, message="trailing whitespace", guide=""))
            with conn.begin():
                for table, rows in ((Series, series), (Run, runs), (Patch, patches), (PatchResult, results),
                                    (FindingRow, findings)):
                    if rows:
                        conn.execute(insert(table), rows)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm: statement cache, templates
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(settings: Settings, client: TestClient, repeat: int) -> dict[str, float]:
    def query(text: str, page: int = 1) -> Callable[[], object]:
        def run() -> object:
            with session_scope(settings.database_url) as session:
                return queries.series_list(session, parse(text), page=page)
        return run

    def get(url: str) -> Callable[[], object]:
        def run() -> object:
            response = client.get(url)
            assert response.status_code == 200, response.text
            return response
        return run

    return {
        "list query": median_ms(query(""), repeat),
        "GET /": median_ms(get("/"), repeat),
        "GET /api/series": median_ms(get("/api/series"), repeat),
        "GET /?q=project:other state:failed": median_ms(get("/?q=project:other+state:failed"), repeat),
        "GET /?q=author:author7@example.org": median_ms(get("/?q=author:author7@example.org"), repeat),
        "GET /?page=100": median_ms(get("/?page=100"), repeat),
        "GET /?q=\"change number 12345\" (text)": median_ms(get("/?q=%22change+number+12345%22"), max(3, repeat // 5)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), smtp_port=1, web_port=2, relay_port=3, extra_projects={"other": OTHER})
        settings = load_settings(config, env={})
        set_settings(settings)
        init_db(settings.database_url)
        client = TestClient(create_app(settings))
        rng = random.Random(7)
        have = 0
        rows: dict[int, dict[str, float]] = {}
        for size in sizes:
            started = time.perf_counter()
            generate(settings, have, size - have, rng)
            have = size
            print(f"{size:>7} series generated in {time.perf_counter() - started:.1f} s", flush=True)
            rows[size] = measure(settings, client, args.repeat)
        names = list(rows[sizes[0]])
        print(f"\nmedian server-side time, ms (SQLite, {PATCHES} patches and results per series)")
        print(f"{'':40s}" + "".join(f"{s:>10,}" for s in sizes))
        for name in names:
            print(f"{name:40s}" + "".join(f"{rows[s][name]:10.1f}" for s in sizes))


if __name__ == "__main__":
    main()
