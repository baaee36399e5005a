"""The demo upstream with the sample series applied, as a real git repository."""

from __future__ import annotations

import os
import re
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


def demo_mails(tag: str, *, indexes: list[int] | None = None, cover: bool = True, cover_extra: str = "",
               total: int | None = None) -> list[bytes]:
    """The sample series as a list server delivers it: fixed Message-IDs, shallow threading.
    `indexes` picks patches (renumbered 1..n), `cover_extra` adds lines to the cover letter body."""
    files = series_files()
    chosen = [files[i] for i in (indexes or [1, 2, 3, 4])]
    n = total or len(chosen)
    out = []
    cover_id = f"{tag}-0@example.org"
    if cover:
        text = files[0].read_text().split("\n", 1)[1]
        text = text.replace("[PATCH 0/4]", f"[PATCH 0/{n}]")
        head, sep, body = text.partition("\n\n")
        out.append(f"Message-ID: <{cover_id}>\n{head}{sep}{cover_extra}{body}".encode())
    for position, path in enumerate(chosen, start=1):
        text = path.read_text().split("\n", 1)[1]
        text = re.sub(r"\[PATCH \d+/4\]", f"[PATCH {position}/{n}]", text, count=1)
        thread = f"In-Reply-To: <{cover_id}>\nReferences: <{cover_id}>\n" if cover else ""
        out.append(f"Message-ID: <{tag}-{position}@example.org>\n{thread}{text}".encode())
    return out
