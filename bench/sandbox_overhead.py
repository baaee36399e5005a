"""What the sandbox costs a step: `true` run directly (a plain subprocess) and through sandbox.run
(bubblewrap, ownership hand-over, disk watch), and the tree walks on a tree the size of libvirt's
build directory (about 20,000 files). Ratios against the direct run measured in the same process.

    .venv/bin/python -m bench.sandbox_overhead [FILES]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workers import bwrap, diskcap
from workers.sandbox import Limits, run


def _median(fn, n: int = 15) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print(bwrap.support().summary())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tree = root / "build"
        for i in range(files):
            d = tree / f"d{i % 200}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i}.o").write_bytes(b"x" * 2000)
        empty = root / "empty"
        empty.mkdir()
        direct = _median(lambda: subprocess.run(["true"], check=True))
        bare = _median(lambda: run(["true"], cwd=empty, output_path=root / "c.log", limits=Limits()))
        plain = _median(lambda: run(["true"], cwd=tree, output_path=root / "a.log", limits=Limits()))
        capped = _median(lambda: run(["true"], cwd=tree, output_path=root / "b.log", limits=Limits(max_write_mb=4096)))
        walk = _median(lambda: diskcap.usage([tree]), 5)
        owner = _median(lambda: bwrap.prepare_ownership([tree]), 5)
    print(f"files in the tree: {files}")
    print(f"direct subprocess `true`:             {direct * 1000:7.1f} ms  (1.0x)")
    print(f"sandbox.run `true`, empty workspace:  {bare * 1000:7.1f} ms  ({bare / direct:.1f}x)")
    print(f"sandbox.run `true` (bwrap):           {plain * 1000:7.1f} ms  ({plain / direct:.1f}x)")
    print(f"sandbox.run `true` + write cap watch: {capped * 1000:7.1f} ms  ({capped / direct:.1f}x)")
    print(f"size walk of the tree:                {walk * 1000:7.1f} ms")
    print(f"ownership walk (nothing to change):   {owner * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
