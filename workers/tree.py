"""Per project and worker: a bare mirror of upstream (fetched, never re-cloned) and one of each of its
submodules, a scratch worktree where series are applied, a build tree, and one persistent build
directory outside it (so `git clean -ffdx` spares it). The build tree is a real clone (`.git` a
directory, its objects borrowed from the mirror), so a project's build sees what a developer's clone
shows it: libvirt defines its syntax-check tests, and picks its git-only defaults, only there. Its
submodules are checked out from our mirrors before anything runs: build steps have no network.
Trees are reset between runs and re-created when broken: a crashed run leaves nothing behind."""

from __future__ import annotations

import fcntl
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


SUBMODULE_NAME_RE = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/+-]{1,200}$")


@dataclass(frozen=True)
class ProjectTree:
    root: Path
    upstream: str
    branch: str
    # submodule path -> URL to mirror it from instead of the one in .gitmodules (offline mirrors)
    submodule_urls: tuple[tuple[str, str], ...] = ()

    @property
    def mirror(self) -> Path:
        return self.root / "mirror.git"

    @property
    def submodules(self) -> Path:
        """Bare mirrors of upstream's submodules, one per URL, fetched with the upstream mirror."""
        return self.root / "submodules"

    def submodule_mirror(self, url: str) -> Path:
        return self.submodules / (re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1]).strip("_.") + ".git")

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

    @property
    def upstream_src(self) -> Path:
        """A second build tree where upstream's own verdict is taken, so the series' build directory
        stays warm. Its tree and build directory sit at the same relative place as the series' ones
        (`../src` from the build directory): the compiler cache hashes both alike."""
        return self.root / "upstream" / "src"

    @property
    def upstream_build(self) -> Path:
        return self.root / "upstream" / "build"


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


def ensure_mirrors(tree: ProjectTree) -> list[str]:
    """Upstream's mirror, then a mirror of each submodule the branch tip names (through the
    project's URL mapping). Returns what could not be fetched, as notes: a submodule the build does
    not need must not stop the run, and one it needs shows as meson's own error."""
    ensure_mirror(tree)
    notes: list[str] = []
    for sub in submodules_at(tree.mirror, f"refs/heads/{tree.branch}"):
        url = submodule_url(tree, sub)
        problem = _fetch_submodule(tree, url)
        if problem:
            log.warning("event=submodule-fetch-failed path=%s url=%s error=%s", sub.path, url, problem)
            notes.append(f"submodule {sub.path}: {problem}")
    return notes


@dataclass(frozen=True)
class Submodule:
    name: str
    path: str
    url: str


def submodules_at(repo: Path, rev: str) -> list[Submodule]:
    """The submodules `.gitmodules` names at `rev` (names and paths git itself would accept)."""
    out = git(repo, "config", "--blob", f"{rev}:.gitmodules", "--get-regexp", r"^submodule\..*\.(path|url)$")
    if not out.ok:
        return []
    fields: dict[str, dict[str, str]] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        name, _, attr = key[len("submodule."):].rpartition(".")
        fields.setdefault(name, {})[attr] = value.strip()
    found = []
    for name, f in fields.items():
        path, url = f.get("path", ""), f.get("url", "")
        if SUBMODULE_NAME_RE.match(name) and SUBMODULE_NAME_RE.match(path) and url and not url.startswith("-"):
            found.append(Submodule(name, path.rstrip("/"), url))
    return found


def submodule_url(tree: ProjectTree, sub: Submodule) -> str:
    """Where we mirror a submodule from: the project's mapping for its path, else .gitmodules' URL
    (a relative one is relative to upstream's)."""
    mapped = dict(tree.submodule_urls).get(sub.path)
    if mapped:
        return mapped
    if sub.url.startswith(("./", "../")):  # as git resolves it: against upstream's URL as a folder
        if "://" in tree.upstream:
            from urllib.parse import urljoin

            return urljoin(tree.upstream.rstrip("/") + "/", sub.url)
        return os.path.normpath(Path(tree.upstream.rstrip("/")) / sub.url)
    return sub.url


def _fetch_submodule(tree: ProjectTree, url: str) -> str:
    mirror = tree.submodule_mirror(url)
    tree.submodules.mkdir(parents=True, exist_ok=True)
    if not (mirror / "HEAD").exists():
        if mirror.exists():
            shutil.rmtree(mirror)
        done = git(tree.submodules, "clone", "--mirror", "--quiet", url, str(mirror), timeout=3600)
    else:
        done = git(mirror, "fetch", "--prune", "--quiet", "origin", timeout=1800)
    return "" if done.ok else f"could not fetch {url}: {done.stderr.strip()[-300:]}"


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


def _worktree_healthy(path: Path, linked: bool, mirror: Path) -> bool:
    dotgit = path / ".git"
    if not dotgit.exists() or (not linked and not dotgit.is_dir()):
        return False
    if not linked:  # a clone that borrows the mirror's objects (series commits land there)
        try:
            alternates = (dotgit / "objects" / "info" / "alternates").read_text().split()
        except OSError:
            return False
        if str((mirror / "objects").resolve()) not in {str(Path(a).resolve()) for a in alternates}:
            return False
    return git(path, "rev-parse", "--is-inside-work-tree").ok


def prepare_worktree(tree: ProjectTree, path: Path, sha: str | None, *, linked: bool | None = None) -> None:
    """A clean tree at `path` (checked out at `sha` when given), repaired or re-created when a crashed
    run left it broken. The scratch tree, where `git am` makes the series' commits, is a worktree of
    the mirror; any other (a tree that is built) is a real clone sharing the mirror's objects. A clean
    tree is not touched, so file times only change where content changes and the next build stays
    incremental."""
    linked = path == tree.scratch if linked is None else linked
    if not _worktree_healthy(path, linked, tree.mirror):
        log.info("event=worktree-recreate path=%s linked=%s", path, linked)
        if path.exists():
            shutil.rmtree(path)
        git(tree.mirror, "worktree", "prune")
        start = sha or tip(tree)
        if linked:
            _must(git(tree.mirror, "worktree", "add", "--force", "--detach", str(path), start), "git worktree add")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _must(git(tree.root, "clone", "--shared", "--no-checkout", "--quiet", str(tree.mirror), str(path),
                  timeout=1800), "git clone --shared")
        _must(git(path, "checkout", "--detach", "--force", "--quiet", start), f"git checkout {start}")
        update_submodules(tree, path)
        return
    git(path, "am", "--abort")
    git(path, "merge", "--abort")
    refresh_index(path)
    _must(git(path, "reset", "--hard", "--quiet"), "git reset --hard")
    _must(git(path, "clean", "-ffdxq"), "git clean")
    if sha:
        checkout_at(tree, path, sha)


def checkout(tree: ProjectTree, sha: str) -> list[str]:
    """The build tree at `sha`, with its submodules; returns notes on submodules it could not have."""
    return checkout_at(tree, tree.src, sha)


def refresh_index(path: Path) -> None:
    """Re-read the stat data of files whose content did not change. The sandbox hands a tree's files
    to the step user before each step (a new owner, a new ctime): without this, `checkout --force`
    and `reset --hard` rewrite every such file, and its new mtime makes ninja recompile all that
    includes it (a header: everything) on every patch. Content is compared, not trusted to stat."""
    git(path, "update-index", "-q", "--refresh", timeout=600)


def checkout_at(tree: ProjectTree, path: Path, sha: str) -> list[str]:
    refresh_index(path)
    _must(git(path, "checkout", "--detach", "--force", "--quiet", sha), f"git checkout {sha}")
    return update_submodules(tree, path) if not (path == tree.scratch) else []


def update_submodules(tree: ProjectTree, path: Path) -> list[str]:
    """Check out each submodule of the commit at `path` from our mirror of it (the URL a commit's
    .gitmodules gives is only looked up among upstream's mirrors: a patch cannot make the bot fetch
    from elsewhere). A gitlink our mirror lacks makes us fetch that mirror once more."""
    notes: list[str] = []
    for sub in submodules_at(path, "HEAD"):
        listed = git(path, "ls-tree", "HEAD", "--", sub.path).stdout.split()
        if len(listed) < 3 or listed[0] != "160000":
            continue
        url = submodule_url(tree, sub)
        mirror = tree.submodule_mirror(url)
        if not (mirror / "HEAD").exists():
            notes.append(f"submodule {sub.path}: not checked out (no mirror of {url}; only upstream's "
                         "submodules are fetched)")
            continue
        _must(git(path, "config", f"submodule.{sub.name}.url", str(mirror)), "git config submodule url")
        if (path / sub.path / ".git").exists():
            refresh_index(path / sub.path)
        update = ("-c", "protocol.file.allow=always", "submodule", "update", "--init", "--force", "--checkout",
                  "--", sub.path)
        done = git(path, *update, timeout=1800)
        if not done.ok:  # a newer gitlink than our mirror has: fetch it, once
            _fetch_submodule(tree, url)
            done = git(path, *update, timeout=1800)
        if not done.ok:
            notes.append(f"submodule {sub.path}: commit {listed[2][:12]} not checked out: "
                         f"{done.stderr.strip()[-300:]}")
            continue
        git(path / sub.path, "clean", "-ffdxq")
    return notes


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
    """Push the applied series to a bare repo that users fetch from (served read-only). The repo
    borrows upstream's history from the mirror (`objects/info/alternates`), so a push sends only the
    series' own objects: no copy of a project's whole history on the first publish. A reader who
    has upstream's history fetches the branch over dumb HTTP (the walker stops at the commits the
    reader has); the alternate is a relative path, so no machine path is served with it."""
    if not (repo / "HEAD").exists():
        repo.parent.mkdir(parents=True, exist_ok=True)
        _must(capture(["git", "init", "--bare", "--quiet", str(repo)], timeout=60), "git init --bare")
    # a pushed pack is kept as it came: unpacking it would skip every object the mirror (lent to the
    # repo) already has, the series' commits included, and a dumb-HTTP reader cannot follow the loan
    _must(git(repo, "config", "receive.unpackLimit", "1"), "git config receive.unpackLimit")
    borrow_objects(repo, tree.mirror)
    _must(git(tree.mirror, "push", "--force", "--quiet", str(repo), f"{sha}:refs/heads/{branch}", timeout=600),
          "git push to the published repo")
    capture(["git", "update-server-info"], cwd=repo, timeout=60)


def borrow_objects(repo: Path, lender: Path) -> None:
    """List `lender`'s object store among `repo`'s alternates (once; several workers' mirrors may
    lend to one published repo). Written whole and renamed, under a lock, so a reader never sees a
    half-written list."""
    info = repo / "objects" / "info"
    info.mkdir(parents=True, exist_ok=True)
    entry = os.path.relpath(lender.resolve() / "objects", (repo / "objects").resolve())
    with open(repo / "seriesbot-alternates.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = info / "alternates"
        try:
            lines = [line for line in path.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            lines = []
        known = {str(((repo / "objects") / line).resolve()) for line in lines}
        if str((lender / "objects").resolve()) in known:
            return
        tmp = info / "alternates.tmp"
        tmp.write_text("".join(f"{line}\n" for line in [*lines, entry]))
        os.replace(tmp, path)
