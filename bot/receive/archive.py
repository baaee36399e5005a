"""A public-inbox v2 archive read with plain git: one repository per epoch (`<url>/git/N.git`),
each message one commit whose tree holds it in the blob `m` (a deletion's commit has no `m`, a
purge's an empty one).

The I/O edge of following (bot.receive.follow): list the epochs (the archive's manifest, else the
folders of a local archive, else probing the next number), mirror one epoch (`git clone --mirror`,
then `git fetch`), and read the commits after a cursor in order. Every git call is an argument
list with a timeout; hooks are off and only http(s), file and local paths are allowed as transports.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

GIT_TIMEOUT = 600.0
_EPOCH_RE = re.compile(r"/git/(\d+)\.git$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_SAFE_GIT = ["-c", "core.hooksPath=/dev/null", "-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
             "-c", "protocol.http.allow=always", "-c", "protocol.file.allow=always"]


class ArchiveError(Exception):
    """The archive (or one epoch of it) could not be read: a fact to report, not a crash."""


@dataclass(frozen=True)
class ArchiveCommit:
    sha: str
    committed_at: int  # committer time (seconds since the epoch): when the archive took the mail
    raw: bytes | None  # the message; None for a commit without `m` (a deletion); cut at `keep` when too big
    size: int = 0  # the message's whole size in the archive


def _git(args: list[str], *, cwd: Path | None = None, timeout: float = GIT_TIMEOUT,
         stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *_SAFE_GIT, *args], cwd=cwd, input=stdin, capture_output=True,
                              timeout=timeout, env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin",
                                                    "LC_ALL": "C", "HOME": "/nonexistent"})
    except subprocess.TimeoutExpired as exc:
        raise ArchiveError(f"git {args[0]} timed out after {timeout:.0f} s") from exc


def is_local(url: str) -> bool:
    return not url.startswith(("http://", "https://"))


def epoch_url(url: str, epoch: int) -> str:
    return f"{url.rstrip('/')}/git/{epoch}.git"


def parse_manifest(data: bytes) -> list[int]:
    """Epoch numbers named in a public-inbox `manifest.js.gz` (gzip'd or plain JSON, keys like
    `/devel/git/0.git`)."""
    return sorted(manifest_fingerprints(data))


def manifest_fingerprints(data: bytes) -> dict[int, str]:
    """Epoch -> its fingerprint in the manifest (a digest of its refs: it changes when the epoch
    does), "" where the manifest gives none."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ArchiveError(f"the manifest is not gzip: {exc}") from exc
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ArchiveError(f"the manifest is not JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArchiveError("the manifest is not a JSON object")
    out: dict[int, str] = {}
    for key, entry in manifest.items():
        m = _EPOCH_RE.search(key) if isinstance(key, str) else None
        if m:
            fingerprint = entry.get("fingerprint") if isinstance(entry, dict) else None
            out[int(m.group(1))] = fingerprint if isinstance(fingerprint, str) else ""
    return out


def list_epochs(url: str, client: httpx.Client | None = None) -> dict[int, str]:
    """The epochs the archive has now, with their manifest fingerprints ("" when unknown: a local
    archive). Raises ArchiveError when it cannot tell."""
    if is_local(url):
        gitdir = Path(url.removeprefix("file://")) / "git"
        if not gitdir.is_dir():
            raise ArchiveError(f"no epochs under {gitdir}")
        return {int(p.name[:-4]): "" for p in gitdir.glob("*.git") if p.name[:-4].isdigit()}
    own = client is None
    client = client or httpx.Client(timeout=30, follow_redirects=True)
    try:
        response = client.get(f"{url.rstrip('/')}/manifest.js.gz")
    except httpx.HTTPError as exc:
        raise ArchiveError(f"manifest: {exc!r}") from exc
    finally:
        if own:
            client.close()
    if response.status_code != 200:
        raise ArchiveError(f"manifest: HTTP {response.status_code}")
    return manifest_fingerprints(response.content)


def epoch_exists(url: str, epoch: int) -> bool:
    """For an archive without a manifest: does `git/N.git` answer?"""
    return _git(["ls-remote", "--heads", epoch_url(url, epoch)], timeout=60).returncode == 0


def mirror_epoch(url: str, epoch: int, mirror: Path) -> Path:
    """Bring one epoch's mirror up to date (clone it the first time); returns its git directory."""
    gitdir = mirror / f"{epoch}.git"
    source = epoch_url(url, epoch)
    if not (gitdir / "HEAD").exists():
        mirror.mkdir(parents=True, exist_ok=True)
        partial = mirror / f".{epoch}.git.partial"  # renamed into place once whole: a kill leaves no half mirror
        shutil.rmtree(partial, ignore_errors=True)
        done = _git(["clone", "--mirror", "-q", source, str(partial)])
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise ArchiveError(f"epoch {epoch}: git clone {source}: {done.stderr.decode(errors='replace').strip()}")
        partial.rename(gitdir)
        return gitdir
    done = _git(["--git-dir", str(gitdir), "fetch", "-q", "--force", "--prune", source,
                 "+refs/heads/*:refs/heads/*"])
    if done.returncode != 0:
        raise ArchiveError(f"epoch {epoch}: git fetch {source}: {done.stderr.decode(errors='replace').strip()}")
    return gitdir


def head(gitdir: Path) -> str | None:
    """The epoch's newest commit (its master, else its only branch); None while it is empty."""
    for ref in ("refs/heads/master", "refs/heads/main", "HEAD"):
        done = _git(["--git-dir", str(gitdir), "rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], timeout=60)
        if done.returncode == 0:
            return done.stdout.decode().strip()
    return None


def contains(gitdir: Path, ancestor: str, descendant: str) -> bool:
    """Is `ancestor` (a cursor) still in the history of `descendant` (the new head)?"""
    if not _SHA_RE.match(ancestor):
        return False
    done = _git(["--git-dir", str(gitdir), "merge-base", "--is-ancestor", ancestor, descendant], timeout=120)
    return done.returncode == 0


def commits_after(gitdir: Path, cursor: str | None, tip: str) -> list[tuple[str, int]]:
    """(sha, committer time) of every commit after the cursor up to the tip, oldest first."""
    spec = f"{cursor}..{tip}" if cursor else tip
    done = _git(["--git-dir", str(gitdir), "log", "--reverse", "--topo-order", "--format=%H %ct", spec])
    if done.returncode != 0:
        raise ArchiveError(f"git log {spec}: {done.stderr.decode(errors='replace').strip()}")
    out = []
    for line in done.stdout.decode().splitlines():
        sha, _, when = line.partition(" ")
        out.append((sha, int(when or 0)))
    return out


def read_commits(gitdir: Path, commits: list[tuple[str, int]], *, max_bytes: int | None = None,
                 keep: int = 65536) -> Iterator[ArchiveCommit]:
    """The message of each commit (`<sha>:m`), read through one `git cat-file --batch`. A message
    over `max_bytes` is not held in memory: its first `keep` bytes are, and its size."""
    if not commits:
        return
    request = "".join(f"{sha}:m\n" for sha, _ in commits).encode()
    proc = subprocess.Popen(["git", *_SAFE_GIT, "--git-dir", str(gitdir), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/nonexistent"})
    assert proc.stdin is not None and proc.stdout is not None
    try:
        # requests are written from a thread while answers are read here, so neither pipe fills up
        feeder = threading.Thread(target=_feed, args=(proc.stdin, request), daemon=True)
        feeder.start()
        for sha, when in commits:
            header = proc.stdout.readline()
            if not header:
                raise ArchiveError(f"git cat-file ended early at {sha}")
            if header.endswith(b" missing\n"):
                yield ArchiveCommit(sha, when, None)
                continue
            _oid, kind, size_text = header.split()
            size = int(size_text)
            if max_bytes is not None and size > max_bytes:
                body = proc.stdout.read(keep)
                left = size - len(body)
                while left > 0:
                    chunk = proc.stdout.read(min(left, 1 << 20))
                    if not chunk:
                        raise ArchiveError(f"git cat-file ended inside {sha}:m")
                    left -= len(chunk)
            else:
                body = proc.stdout.read(size)
            proc.stdout.read(1)  # the newline after each object
            # public-inbox-purge leaves an empty `m` where the purged message was
            yield ArchiveCommit(sha, when, body if kind == b"blob" and body.strip() else None, size)
        feeder.join()
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def _feed(pipe: object, data: bytes) -> None:
    try:
        pipe.write(data)  # type: ignore[attr-defined]
        pipe.close()  # type: ignore[attr-defined]
    except (BrokenPipeError, ValueError):
        pass
