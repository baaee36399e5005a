"""Rules over commits of a git repository: used by the pipeline after each patch, and by
`seriesbot rules check --repo PATH BASE..HEAD` so a contributor can check a series before posting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.records import Finding
from workers.rules import Rule
from workers.rules.context import PatchInfo, RuleContext
from workers.rules.engine import RulesOutcome, run_rules
from workers.sandbox import capture


def _git(repo: Path, *args: str, timeout: float = 120) -> str:
    done = capture(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=repo, timeout=timeout)
    if not done.ok:
        raise ValueError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()[-300:]}")
    return done.stdout


def file_reader(repo: Path, sha: str) -> Callable[[str], str | None]:
    """Files of one commit, read on demand and kept. The commit's file list is read once, so asking
    for a file it lacks (rules probe libvirt's usual paths) costs no git call."""
    cache: dict[str, str | None] = {}
    listing: set[str] = set()

    def read(path: str) -> str | None:
        if not listing:
            listing.update(_git(repo, "ls-tree", "-r", "-z", "--name-only", sha).split("\0"))
        if path not in cache:
            done = capture(["git", "show", f"{sha}:{path}"], cwd=repo, timeout=60) if path in listing else None
            cache[path] = done.stdout if done is not None and done.ok else None
        return cache[path]

    return read


def patch_info(repo: Path, parent: str, sha: str, index: int) -> PatchInfo:
    fmt = _git(repo, "log", "-1", "--format=%an%x00%ae%x00%s%x00%B", sha)
    name, email, subject, message = (fmt.split("\x00", 3) + ["", "", "", ""])[:4]
    diff = _git(repo, "diff", "--no-color", "--no-ext-diff", "-M", parent, sha)
    return PatchInfo(index, subject, message, name, email.lower(), diff)


@dataclass
class SeriesChecker:
    """Runs the rules after each patch of a series, keeping the series so far."""

    repo: Path
    rules: list[Rule]
    total: int
    infos: list[PatchInfo] = field(default_factory=list)
    commits: dict[int, str] = field(default_factory=dict)
    readers: dict[str, Callable[[str], str | None]] = field(default_factory=dict)

    def remember(self, parent: str, sha: str, index: int) -> PatchInfo:
        """Add a patch to the series so far without judging it (already judged, or resumed)."""
        info = patch_info(self.repo, parent, sha, index)
        self.commits.setdefault(0, parent)  # the series base: the parent of the first patch
        self.infos.append(info)
        self.commits[index] = sha
        return info

    def reader(self, commit: str) -> Callable[[str], str | None]:
        """One cached reader per commit, kept across patches (the base is read by every patch)."""
        if commit not in self.readers:
            self.readers[commit] = file_reader(self.repo, commit)
        return self.readers[commit]

    def check(self, parent: str, sha: str, index: int) -> RulesOutcome:
        info = self.remember(parent, sha, index)

        def read_at(i: int, path: str) -> str | None:
            commit = self.commits.get(i)
            return None if commit is None else self.reader(commit)(path)

        ctx = RuleContext(patch=info, series=list(self.infos), read=self.reader(sha),
                          read_before=self.reader(parent), is_last=index == self.total, read_at=read_at)
        return run_rules(ctx, self.rules)


@dataclass(frozen=True)
class CommitFindings:
    index: int
    sha: str
    subject: str
    findings: list[Finding]


def check_range(repo: Path, revision_range: str, rules: list[Rule]) -> list[CommitFindings]:
    """BASE..HEAD, oldest first, each commit judged as one patch of a series."""
    if ".." not in revision_range or revision_range.startswith("-"):
        raise ValueError("expected a range BASE..HEAD")
    base = revision_range.split("..", 1)[0] or "HEAD"
    shas = _git(repo, "rev-list", "--reverse", "--end-of-options", revision_range).split()
    checker = SeriesChecker(repo, rules, total=len(shas))
    parent = _git(repo, "rev-parse", "--verify", "--end-of-options", f"{base}^{{commit}}").strip()
    out = []
    for index, sha in enumerate(shas, start=1):
        outcome = checker.check(parent, sha, index)
        out.append(CommitFindings(index, sha, checker.infos[-1].subject, outcome.findings))
        parent = sha
    return out
