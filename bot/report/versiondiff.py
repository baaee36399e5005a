"""Pure: how each patch of vN fared against vN-1, matched by git patch-id, else by subject.
fixed (failed before, passes now), newly failing, unchanged, new patch, dropped patch; "not
compared" when one side has no verdict (not tested, skipped)."""

from __future__ import annotations

import re
from dataclasses import dataclass

GOOD = ("ok", "warn")
BAD = ("fail", "blocked")
KINDS = ("fixed", "newly failing", "unchanged", "new patch", "dropped patch", "not compared")


@dataclass(frozen=True)
class PatchOutcome:
    index: int
    patch_id: str | None
    title: str
    verdict: str | None  # the run's verdict for the patch; None when it was not tested


@dataclass(frozen=True)
class PatchChange:
    index: int | None  # None: a patch of the previous version that is gone
    title: str
    change: str  # one of KINDS
    was: int | None = None  # its index in the previous version


@dataclass(frozen=True)
class VersionComparison:
    previous_version: int
    previous_series_id: int
    changes: tuple[PatchChange, ...]

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.change == kind)

    def summary(self) -> str:
        parts = [f"{self.count(k)} {k}" for k in KINDS if self.count(k)]
        return ", ".join(parts) if parts else "no patches"


def _norm(title: str) -> str:
    title = title.split("]", 1)[-1] if title.lstrip().startswith("[") else title
    return re.sub(r"\s+", " ", title.lower()).strip().rstrip(".")


def _verdict_change(old: str | None, new: str | None) -> str:
    if old in BAD and new in GOOD:
        return "fixed"
    if old in GOOD and new in BAD:
        return "newly failing"
    if (old in GOOD and new in GOOD) or (old in BAD and new in BAD):
        return "unchanged"
    return "not compared"


def compare(previous: list[PatchOutcome], current: list[PatchOutcome]) -> tuple[PatchChange, ...]:
    by_pid: dict[str, PatchOutcome] = {}
    by_title: dict[str, PatchOutcome] = {}
    for p in sorted(previous, key=lambda p: p.index):
        if p.patch_id:
            by_pid.setdefault(p.patch_id, p)
        by_title.setdefault(_norm(p.title), p)
    used: set[int] = set()
    changes: list[PatchChange] = []
    for p in sorted(current, key=lambda p: p.index):
        old = by_pid.get(p.patch_id) if p.patch_id else None
        if old is None or old.index in used:
            old = by_title.get(_norm(p.title))
        if old is None or old.index in used:
            changes.append(PatchChange(p.index, p.title, "new patch"))
            continue
        used.add(old.index)
        changes.append(PatchChange(p.index, p.title, _verdict_change(old.verdict, p.verdict), old.index))
    for p in sorted(previous, key=lambda p: p.index):
        if p.index not in used:
            changes.append(PatchChange(None, p.title, "dropped patch", p.index))
    return tuple(changes)


def render_lines(comparison: VersionComparison) -> list[str]:
    """For the summary mail: one line of counts, then only the patches whose result moved."""
    lines = [f"Since v{comparison.previous_version}: {comparison.summary()}."]
    for c in comparison.changes:
        if c.change in ("fixed", "newly failing", "new patch", "dropped patch"):
            where = f"{c.index:3d}" if c.index is not None else "  -"
            lines.append(f"{where}  {c.change}: {c.title}"[:100])
    return lines
