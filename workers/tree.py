"""Per project and worker: a bare mirror of upstream (fetched, never re-cloned), one worktree, one
persistent build directory outside it (so `git clean -ffdx` spares it). The worktree is reset
between runs and re-created when broken: a crashed run leaves nothing that poisons the next."""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import InfraError
from workers.sandbox import Captured, capture

log = logging.getLogger("seriesbot.tree")

# A ref or commit-ish that came from mail: no leading '-', no '..', no control characters.
SAFE_REF_RE = re.compile(r"^(?!-)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/+~^-]{1,200}$")
SHA_RE = re.compile(r"^[0-9a-f]{7,64}$")
GIT_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "gc.auto=0", "-c", "advice.detachedHead=false",
              "-c", "commit.gpgSign=false", "-c", "am.threeWay=true", "-c", "protocol.ext.allow=never")
CONFLICT_PATTERNS = (
    re.compile(r"^error: patch failed: (?P<path>.+?):(?P<line>\d+)$", re.M),
    re.compile(r"^error: (?P<path>.+?): does not exist in index$", re.M),
    re.compile(r"^error: (?P<path>.+?): patch does not apply$", re.M),
    re.compile(r"^CONFLICT \([^)]*\): Merge conflict in (?P<path>.+)$", re.M),
)


@dataclass(frozen=True)
class ProjectTree:
    root: Path
    upstream: str
    branch: str

    @property
    def mirror(self) -> Path:
        return self.root / "mirror.git"

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def scratch(self) -> Path:
        """Where patches are applied: never built in, so applying a series does not touch the
        build worktree's files (and their times) before each patch is checked out in turn."""
        return self.root / "apply"

    @property
    def build(self) -> Path:
        return self.root / "build"


@dataclass
class PatchApplied:
    index: int
    status: str  # ok, conflict, already-applied, skip
    commit: str | None = None
    files: list[str] = field(default_factory=list)
    message: str = ""


def git(cwd: Path, *args: str, timeout: float = 300.0, input: bytes | str | None = None,
        env: dict[str, str] | None = None) -> Captured:
    return capture(["git", *GIT_CONFIG, *args], cwd=cwd, timeout=timeout, input=input, env=env)


def _must(result: Captured, what: str) -> Captured:
    if not result.ok:
        raise InfraError(f"{what} failed: {result.stderr.strip()[-500:]}")
    return result


def ensure_mirror(tree: ProjectTree) -> None:
    """Fetch upstream into the bare mirror, cloning it the first time only."""
    tree.root.mkdir(parents=True, exist_ok=True)
    if not (tree.mirror / "HEAD").exists():
        if tree.mirror.exists():
            shutil.rmtree(tree.mirror)
        _must(capture(["git", "clone", "--mirror", "--quiet", tree.upstream, str(tree.mirror)],
                      cwd=tree.root, timeout=3600), f"git clone --mirror {tree.upstream}")
        return
    _must(git(tree.mirror, "fetch", "--prune", "--quiet", "origin", timeout=1800), f"git fetch {tree.upstream}")


def resolve(tree: ProjectTree, ref: str) -> str | None:
    """The commit a ref or commit-ish names in the mirror, or None. Refuses unsafe input."""
    if not SAFE_REF_RE.match(ref):
        return None
    for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
        out = git(tree.mirror, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}")
        if out.ok and out.stdout.strip():
            return out.stdout.strip()
    return None


def tip(tree: ProjectTree) -> str:
    sha = resolve(tree, f"refs/heads/{tree.branch}")
    if sha is None:
        raise InfraError(f"branch {tree.branch!r} not found in {tree.upstream}")
    return sha


def _worktree_healthy(path: Path) -> bool:
    if not (path / ".git").exists():
        return False
    return git(path, "rev-parse", "--is-inside-work-tree").ok


def prepare_worktree(tree: ProjectTree, path: Path, sha: str | None) -> None:
    """A clean worktree at `path` (checked out at `sha` when given), repaired or re-created when a
    crashed run left it broken. A clean worktree is not touched, so file times only change where
    content changes and the next build stays incremental."""
    if not _worktree_healthy(path):
        log.info("event=worktree-recreate path=%s", path)
        if path.exists():
            shutil.rmtree(path)
        git(tree.mirror, "worktree", "prune")
        start = sha or tip(tree)
        _must(git(tree.mirror, "worktree", "add", "--force", "--detach", str(path), start), "git worktree add")
        return
    git(path, "am", "--abort")
    git(path, "merge", "--abort")
    _must(git(path, "reset", "--hard", "--quiet"), "git reset --hard")
    _must(git(path, "clean", "-ffdxq"), "git clean")
    if sha:
        _must(git(path, "checkout", "--detach", "--force", "--quiet", sha), f"git checkout {sha}")


def checkout(tree: ProjectTree, sha: str) -> None:
    _must(git(tree.src, "checkout", "--detach", "--force", "--quiet", sha), f"git checkout {sha}")


def conflict_files(output: str) -> list[str]:
    files: list[str] = []
    for pattern in CONFLICT_PATTERNS:
        for m in pattern.finditer(output):
            path = m.group("path").strip()
            if path not in files:
                files.append(path)
    return files


def apply_patches(tree: ProjectTree, base: str, mails: list[tuple[int, bytes]], workdir: Path) -> list[PatchApplied]:
    """`git am -3` each patch mail in order onto `base` (in the scratch worktree); stop at the first
    that does not apply. The commits land in the mirror's object store, shared with the build tree."""
    prepare_worktree(tree, tree.scratch, base)
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[PatchApplied] = []
    failed = False
    for index, raw in mails:
        if failed:
            results.append(PatchApplied(index, "skip", message="an earlier patch did not apply"))
            continue
        path = workdir / f"{index:04d}.eml"
        path.write_bytes(raw)
        before = git(tree.scratch, "rev-parse", "HEAD").stdout.strip()
        done = git(tree.scratch, "am", "-3", "--committer-date-is-author-date", "--quiet", str(path), timeout=300,
                   env=_committer_env())
        output = done.stdout + done.stderr
        if done.ok:
            after = git(tree.scratch, "rev-parse", "HEAD").stdout.strip()
            if after == before:
                results.append(PatchApplied(index, "already-applied", before, message="nothing to apply"))
            else:
                results.append(PatchApplied(index, "ok", after))
            continue
        if "No changes" in output or "already applied" in output.lower():
            git(tree.scratch, "am", "--skip")
            results.append(PatchApplied(index, "already-applied", before, message="already applied upstream"))
            continue
        files = conflict_files(output)
        unmerged = git(tree.scratch, "diff", "--name-only", "--diff-filter=U").stdout.split()
        for f in unmerged:
            if f not in files:
                files.append(f)
        git(tree.scratch, "am", "--abort")
        results.append(PatchApplied(index, "conflict", files=files, message=output.strip()[-2000:]))
        failed = True
    return results


def _committer_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GIT_COMMITTER_NAME": "seriesbot",
        "GIT_COMMITTER_EMAIL": "seriesbot@localhost",
        "GIT_TERMINAL_PROMPT": "0",
    })
    return env


def publish(tree: ProjectTree, repo: Path, branch: str, sha: str) -> None:
    """Push the applied series to a bare repo that users fetch from (served read-only)."""
    if not (repo / "HEAD").exists():
        repo.parent.mkdir(parents=True, exist_ok=True)
        _must(capture(["git", "init", "--bare", "--quiet", str(repo)], timeout=60), "git init --bare")
    _must(git(tree.mirror, "push", "--force", "--quiet", str(repo), f"{sha}:refs/heads/{branch}", timeout=600),
          "git push to the published repo")
    capture(["git", "update-server-info"], cwd=repo, timeout=60)
