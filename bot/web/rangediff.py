"""`git range-diff` between two versions of a series. Each run publishes its applied series as the
branch Run.branch in data_dir/published/<project>.git together with its upstream ancestry, so the
two ranges base..branch can be compared there. git runs as an argument list (no shell), with a
time limit and a cap on what is read back; refs are checked against the shapes we write."""

from __future__ import annotations

import os
import re
import subprocess

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Run, Series
from bot.settings import Settings
from bot.web.records import RangeDiff

SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
BRANCH = re.compile(r"^series/[0-9]+/run-[0-9]+$")
TIMEOUT = 30.0
MAX_OUTPUT = 2 * 1024 * 1024


def applied_range(session: Session, series_id: int) -> tuple[str, str] | None:
    """(base sha, branch) of the series' newest run that published its applied patches."""
    run = session.scalar(select(Run).where(Run.series_id == series_id, Run.branch.is_not(None),
                                           Run.base_sha.is_not(None)).order_by(Run.id.desc()).limit(1))
    if run is None or not run.base_sha or not run.branch:
        return None
    if not SHA.match(run.base_sha) or not BRANCH.match(run.branch):
        return None
    return run.base_sha, run.branch


def run_range_diff(repo: str, old: tuple[str, str], new: tuple[str, str]) -> tuple[str, str]:
    """(output, error) of git range-diff old_base..old_branch new_base..new_branch."""
    argv = ["git", "--git-dir", repo, "range-diff", "--no-color",
            f"{old[0]}..refs/heads/{old[1]}", f"{new[0]}..refs/heads/{new[1]}"]
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C.UTF-8"}
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        return "", f"git range-diff took longer than {TIMEOUT:.0f} s"
    except OSError as exc:
        return "", f"git range-diff could not run: {exc}"
    out = done.stdout[:MAX_OUTPUT].decode("utf-8", "replace")
    if len(done.stdout) > MAX_OUTPUT:
        out += "\n[... output truncated]\n"
    if done.returncode != 0:
        return out, done.stderr.decode("utf-8", "replace").strip()[-2000:] or f"git exited with {done.returncode}"
    return out, ""


def range_diff(session: Session, settings: Settings, old_id: int, new_id: int) -> RangeDiff | None:
    old, new = session.get(Series, old_id), session.get(Series, new_id)
    if old is None or new is None:
        return None
    if old.project != new.project:
        return RangeDiff(new_id, old_id, "", "the two series belong to different projects")
    ranges = applied_range(session, old_id), applied_range(session, new_id)
    for series, rng in zip((old, new), ranges, strict=True):
        if rng is None:
            return RangeDiff(new_id, old_id, "", f"v{series.version} (series {series.id}) has no applied branch: "
                                                 "it was not tested yet or did not apply")
    repo = settings.data_dir / "published" / f"{new.project}.git"
    if not (repo / "HEAD").exists():
        return RangeDiff(new_id, old_id, "", "no published repository for this project")
    assert ranges[0] is not None and ranges[1] is not None
    text, error = run_range_diff(str(repo), ranges[0], ranges[1])
    return RangeDiff(new_id, old_id, text, error)
