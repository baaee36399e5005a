"""Per-step control groups, where the host lets us make them: a process cap (pids.max) and a memory
cap that also hold for root (RLIMIT_NPROC does not), and a way to kill every process a step started
even if it left its process group. cgroup v2 (a delegated subtree) or v1 (pids + memory
hierarchies) are used; elsewhere `available()` is False and the rlimits alone apply."""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("seriesbot.cgroups")
ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class StepGroup:
    dirs: tuple[Path, ...]  # one per hierarchy (v1) or one (v2)

    def join(self) -> None:
        """Called in the child between fork and exec: move it into the group."""
        pid = str(os.getpid())
        for d in self.dirs:
            (d / "cgroup.procs").write_text(pid)

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return found

    def kill_all(self) -> None:
        for _ in range(20):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)

    def pids_limit_hits(self) -> int:
        """How often a fork was refused for the process cap (pids.events "max N")."""
        for d in self.dirs:
            try:
                for line in (d / "pids.events").read_text().splitlines():
                    if line.startswith("max "):
                        return int(line.split()[1])
            except (OSError, ValueError):
                continue
        return 0

    def memory_peak_exceeded(self) -> bool:
        for d in self.dirs:
            for name in ("memory.failcnt", "memory.events"):
                try:
                    text = (d / name).read_text()
                except OSError:
                    continue
                if name == "memory.failcnt" and text.strip() not in ("", "0"):
                    return True
                if name == "memory.events" and any(line.startswith("oom_kill ") and not line.endswith(" 0")
                                                   for line in text.splitlines()):
                    return True
        return False


@functools.cache
def _layout() -> tuple[str, tuple[Path, ...]] | None:
    if os.geteuid() != 0:
        return None
    unified = ROOT / "cgroup.controllers"
    if unified.exists() and {"pids", "memory"} <= set(unified.read_text().split()):
        base = ROOT / "seriesbot"
        try:
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text("+pids +memory")
            return "v2", (base,)
        except OSError:
            return None
    bases = (ROOT / "pids" / "seriesbot", ROOT / "memory" / "seriesbot")
    try:
        for b in bases:
            b.mkdir(exist_ok=True)
        return "v1", bases
    except OSError:
        return None


def available() -> bool:
    layout = _layout()
    if layout is None:
        log.warning("event=no-cgroups reason='not root or no writable pids/memory cgroup'; rlimits only")
    return layout is not None


def create(max_processes: int, memory_mb: int) -> StepGroup | None:
    layout = _layout()
    if layout is None:
        return None
    version, bases = layout
    name = f"step-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    dirs = []
    try:
        for base in bases:
            d = base / name
            d.mkdir()
            dirs.append(d)
        if version == "v2":
            (dirs[0] / "pids.max").write_text(str(max_processes))
            (dirs[0] / "memory.max").write_text(str(memory_mb * 1024 * 1024))
            (dirs[0] / "memory.swap.max").write_text("0") if (dirs[0] / "memory.swap.max").exists() else None
        else:
            (dirs[0] / "pids.max").write_text(str(max_processes))
            (dirs[1] / "memory.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024))
    except OSError as exc:
        log.warning("event=cgroup-create-failed error=%r", exc)
        for d in dirs:
            try:
                d.rmdir()
            except OSError:
                pass
        return None
    return StepGroup(tuple(dirs))
