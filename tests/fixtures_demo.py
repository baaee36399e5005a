"""The demo upstream with the sample series applied, as a real git repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.demo.upstream import create_upstream, series_files


def demo_repo(base: Path) -> tuple[Path, str, str]:
    """(work tree, base sha, head sha) with the four sample patches applied by git am."""
    upstream = base / "upstream.git"
    base_sha = create_upstream(upstream)
    work = base / "work"
    env = {**os.environ, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "clone", "-q", str(upstream), str(work)], check=True)
    subprocess.run(["git", "am", "-q", *[str(f) for f in series_files() if not f.name.startswith("0000")]],
                   cwd=work, check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True,
                          text=True).stdout.strip()
    return work, base_sha, head
