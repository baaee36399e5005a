"""git patch-id --stable of a diff: the identity of a change regardless of line offsets, used to
spot unchanged patches between versions and patches already applied upstream."""

from __future__ import annotations

import subprocess


def patch_id(diff: str) -> str | None:
    if not diff.strip():
        return None
    try:
        done = subprocess.run(
            ["git", "patch-id", "--stable"],
            input=diff,
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = done.stdout.split()
    return first[0] if first else None
