"""RuleContext: what a rule may look at. The patch's parsed diff, the tree at this commit and at its
parent (read any file), and the series so far. Parsed files are cached so that twenty rules asking
for the same 13,000-line file parse it once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from bot.records import Finding

Reader = Callable[[str], "str | None"]
_WORD_RE = re.compile(r"[A-Za-z_]\w*")


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
    removed_at: dict[int, int] = field(default_factory=dict)  # old line -> where it was, in the new file

    def added_numbers(self) -> set[int]:
        return {n for n, _ in self.added}


def file_diffs(patchset: PatchSet) -> list[FileDiff]:
    diffs = []
    for pf in patchset:
        path = pf.target_file[2:] if pf.target_file.startswith("b/") else pf.path
        old = pf.source_file[2:] if pf.source_file.startswith("a/") else pf.path
        added, removed = [], []
        removed_at: dict[int, int] = {}
        for hunk in pf:
            position = hunk.target_start  # the new-file line a removal is reported at
            for line in hunk:
                if line.is_added:
                    added.append((line.target_line_no, line.value.rstrip("\n")))
                    position = line.target_line_no + 1
                elif line.is_removed:
                    removed.append((line.source_line_no, line.value.rstrip("\n")))
                    removed_at[line.source_line_no] = max(position, 1)
                elif line.target_line_no is not None:
                    position = line.target_line_no + 1
        diffs.append(FileDiff(path, old, pf.is_added_file, pf.is_removed_file, added, removed, removed_at))
    return diffs


@dataclass
class RuleContext:
    patch: PatchInfo
    series: list[PatchInfo]  # every patch of the series up to and including this one
    read: Reader  # file at this commit
    read_before: Reader  # file at the parent commit
    is_last: bool = True
    read_at: Callable[[int, str], str | None] | None = None  # (patch index, path); index 0 = the series base
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
        """The parsed diff of patch `index` (1-based) of the series so far."""
        if index == self.patch.index:
            return self.files
        key = ("series-files", index)
        if key not in self.cache:
            self.cache[key] = file_diffs(parse_diff(self.series[index - 1].diff))
        return self.cache[key]

    def series_paths(self, predicate: Callable[[str], bool] = lambda p: True) -> list[str]:
        """Every path the series so far touches (and still has), in first-touched order."""
        seen: dict[str, None] = {}
        for info in self.series:
            for f in self.series_files(info.index):
                if predicate(f.path) and not f.is_removed:
                    seen.setdefault(f.path, None)
        return list(seen)

    def introduced_by(self, path: str, word: str) -> int:
        """The first patch of the series whose added lines in `path` hold the identifier `word`
        (else this patch). One pass over the series per path, then a lookup."""
        key = ("first-adding", path)
        if key not in self.cache:
            first: dict[str, int] = {}
            for info in self.series:
                diff = next((f for f in self.series_files(info.index) if f.path == path), None)
                for _, text in diff.added if diff else ():
                    for token in _WORD_RE.findall(text):
                        first.setdefault(token, info.index)
            self.cache[key] = first
        return self.cache[key].get(word, self.patch.index)  # type: ignore[no-any-return]

    def read_base(self, path: str) -> str | None:
        """A file as it was before the series (its base); the parent when the base is unknown."""
        if self.read_at is not None:
            return self.read_at(0, path)
        return self.read_before(path) if self.patch.index == 1 else None

    def parsed(self, key: str, path: str, parser: Callable[[str], Any], before: bool = False,
               base: bool = False) -> Any:
        """A file at this commit (or its parent, or the series base), parsed once per context."""
        cache_key = (key, path, "base" if base else "before" if before else "now")
        if cache_key not in self.cache:
            reader = self.read_base if base else self.read_before if before else self.read
            text = reader(path)
            self.cache[cache_key] = None if text is None else parser(text)
        return self.cache[cache_key]

    def finding(self, rule: Any, path: str, line: int, message: str, patch_index: int | None = None) -> Finding:
        return Finding(rule.id, rule.severity, path, line, message, rule.guide, patch_index)
