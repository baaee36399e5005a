"""Create the demo upstream repository from the bundled tree: one commit with a fixed author and
date, so its sha (and the sample series' base) is the same on every machine."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE / "tree"
SERIES = HERE / "series"
AUTHOR = ("Demo Upstream", "upstream@demo.seriesbot.test")
DATE = "2026-01-01T00:00:00Z"
MESSAGE = "Initial import of demovirt"


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ)
    env.update({
        "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1], "GIT_AUTHOR_DATE": DATE,
        "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1], "GIT_COMMITTER_DATE": DATE,
        "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd),
    })
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def create_upstream(bare_path: Path, branch: str = "main", tree: Path = TREE) -> str:
    """Make `bare_path` a bare repo holding the demo tree as one commit on `branch`. Returns its sha.
    An existing repo is left alone (its history may have grown since)."""
    bare_path = Path(bare_path)
    bare_path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{bare_path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several processes start at once
        if not (bare_path / "HEAD").exists():
            with tempfile.TemporaryDirectory(prefix="seriesbot-demo-", dir=bare_path.parent) as tmp:
                work = Path(tmp) / "work"
                shutil.copytree(tree, work, ignore=shutil.ignore_patterns("build", "builddir", "__pycache__"))
                _git(work, "init", "--quiet", f"--initial-branch={branch}")
                _git(work, "add", "--all")
                _git(work, "commit", "--quiet", "--no-gpg-sign", "-m", MESSAGE)
                _git(Path(tmp), "clone", "--bare", "--quiet", str(work), str(Path(tmp) / "bare.git"))
                os.rename(Path(tmp) / "bare.git", bare_path)
    return _git(bare_path, "rev-parse", f"refs/heads/{branch}")


def series_files(series_dir: Path = SERIES) -> list[Path]:
    return sorted(series_dir.glob("*.patch"))


def send_email_argv(files: list[Path], host: str, port: int, to: str,
                    sender: str = "Ada Lovelace <ada@example.org>") -> list[str]:
    """git send-email as a contributor runs it; an argument list, never a shell string."""
    return ["git", "send-email", "--confirm=never", "--no-smtp-auth", "--suppress-cc=all", "--no-signed-off-by-cc",
            f"--smtp-server={host}", f"--smtp-server-port={port}", f"--to={to}",
            f"--from={sender}", "--8bit-encoding=UTF-8", "--transfer-encoding=8bit", *[str(f) for f in files]]
