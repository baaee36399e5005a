"""RuleContext: what a rule may look at. The patch's parsed diff, the tree at this commit and at its
parent (read any file), and the series so far. Parsed files are cached so that twenty rules asking
for the same 13,000-line file parse it once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from bot.records import Finding

Reader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class PatchInfo:
    index: int  # 1-based position in the series
    subject: str
    message: str  # the commit message (with trailers)
    author_name: str
    author_email: str
    diff: str


def parse_diff(text: str) -> PatchSet:
    try:
        return PatchSet(text)
    except UnidiffParseError:
        return PatchSet("")


@dataclass
class FileDiff:
    path: str
    old_path: str
    is_added: bool
    is_removed: bool
    added: list[tuple[int, str]]  # (line number in the new file, text)
    removed: list[tuple[int, str]]  # (line number in the old file, text)


def file_diffs(patchset: PatchSet) -> list[FileDiff]:
    diffs = []
    for pf in patchset:
        path = pf.target_file[2:] if pf.target_file.startswith("b/") else pf.path
        old = pf.source_file[2:] if pf.source_file.startswith("a/") else pf.path
        added, removed = [], []
        for hunk in pf:
            for line in hunk:
                if line.is_added:
                    added.append((line.target_line_no, line.value.rstrip("\n")))
                elif line.is_removed:
                    removed.append((line.source_line_no, line.value.rstrip("\n")))
        diffs.append(FileDiff(path, old, pf.is_added_file, pf.is_removed_file, added, removed))
    return diffs


@dataclass
class RuleContext:
    patch: PatchInfo
    series: list[PatchInfo]  # every patch of the series up to and including this one
    read: Reader  # file at this commit
    read_before: Reader  # file at the parent commit
    is_last: bool = True
    read_at: Callable[[int, str], str | None] | None = None  # (patch index, path) for series rules
    cache: dict[Any, Any] = field(default_factory=dict)

    @cached_property
    def files(self) -> list[FileDiff]:
        return file_diffs(parse_diff(self.patch.diff))

    def file(self, path: str) -> FileDiff | None:
        for f in self.files:
            if f.path == path:
                return f
        return None

    def files_matching(self, predicate: Callable[[str], bool]) -> Iterator[FileDiff]:
        return (f for f in self.files if predicate(f.path))

    def series_files(self, index: int) -> list[FileDiff]:
        key = ("series-files", index)
        if key not in self.cache:
            self.cache[key] = file_diffs(parse_diff(self.series[index - 1].diff))
        return self.cache[key]

    def parsed(self, key: str, path: str, parser: Callable[[str], Any], before: bool = False) -> Any:
        """A file at this commit (or its parent), parsed once per context."""
        cache_key = (key, path, before)
        if cache_key not in self.cache:
            text = (self.read_before if before else self.read)(path)
            self.cache[cache_key] = None if text is None else parser(text)
        return self.cache[cache_key]

    def finding(self, rule: Any, path: str, line: int, message: str, patch_index: int | None = None) -> Finding:
        return Finding(rule.id, rule.severity, path, line, message, rule.guide, patch_index)
