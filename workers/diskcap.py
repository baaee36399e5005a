"""A size cap on what one step writes into its writable trees (build directory, source tree,
compiler cache), watched while it runs.

The trees are persistent and shared between steps, so a tmpfs or a quota does not fit them; the
cap is a watched size instead, cheap enough to poll: the free space of the trees' filesystems is
read every poll (one statvfs), and a fall of more than the cap since the step started is
confirmed by walking the trees (other processes write to the same disk). A walk also runs every
few seconds for slow writers. A single file is capped by RLIMIT_FSIZE in the step itself, so one
huge file never needs the watch at all. Sizes are allocated blocks, not apparent sizes: a sparse
file costs nothing on disk and counts nothing."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

BIG_FILE = 1 << 20


def usage(roots: list[Path]) -> int:
    """Bytes allocated under `roots` (hard-linked files counted once), without following links."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(r) for r in roots]
    while stack:
        top = stack.pop()
        try:
            entries = os.scandir(top)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
    return total


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DiskWatch:
    def __init__(self, roots: list[Path], cap_bytes: int, base: int | None = None) -> None:
        """`base`: the trees' size now, when the caller has just walked them."""
        self.roots = [r for r in roots if r.is_dir()]
        self.cap = cap_bytes
        self.started = time.time()
        walk = time.monotonic()
        self.base = usage(self.roots) if base is None else base
        self.walk_cost = time.monotonic() - walk if base is None else 0.0
        self.last_walk = time.monotonic()
        self.devices: dict[int, Path] = {}
        for r in self.roots:
            self.devices.setdefault(r.stat().st_dev, r)
        self.free_at_start = {dev: _free(p) for dev, p in self.devices.items()}
        self.grown = 0

    def _walk(self) -> int:
        started = time.monotonic()
        self.grown = usage(self.roots) - self.base
        self.walk_cost = time.monotonic() - started
        self.last_walk = time.monotonic()
        return self.grown

    def over(self, final: bool = False) -> bool:
        """True once the step has written more than the cap (call it often: it is cheap). `final`
        (after the step) measures whenever the disk shows half the cap written."""
        if not self.roots or self.cap <= 0:
            return False
        fell = 0
        for dev, path in self.devices.items():
            try:
                fell = max(fell, self.free_at_start[dev] - _free(path))
            except OSError:
                continue
        # a walk every 10 s at most, and never more than 2% of the time
        due = time.monotonic() - self.last_walk > max(10.0, 50 * self.walk_cost) or (final and fell > self.cap // 2)
        if fell > self.cap or due:
            if self._walk() > self.cap:
                return True
            if fell > self.cap:  # someone else filled the disk: measure the fall from here on
                for dev, path in self.devices.items():
                    self.free_at_start[dev] = _free(path) + max(self.grown, 0)
        return False

    def remove_written(self) -> int:
        """After a step was stopped for writing too much: delete the big files it wrote (a build
        directory keeps working without them: ninja rebuilds what is missing). Returns bytes freed."""
        freed = 0
        for root in self.roots:
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    path = Path(dirpath) / name
                    try:
                        st = path.lstat()
                        if stat.S_ISREG(st.st_mode) and st.st_mtime >= self.started - 1 and \
                                st.st_blocks * 512 >= BIG_FILE and (root / ".git") not in path.parents:
                            path.unlink()
                            freed += st.st_blocks * 512
                    except OSError:
                        continue
        return freed
