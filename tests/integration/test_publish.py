"""Issue 14: the published series repository borrows upstream's history from the worker's mirror
(git alternates), so publishing adds only the series' own objects, and a reader with a clone of
upstream still fetches the branch from the dashboard over git's dumb HTTP, as the replies say."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import uvicorn

from bot.demo.upstream import create_upstream
from bot.web.app import create_app
from tests.fixtures_demo import demo_mails
from tests.helpers import free_port, wait_port
from workers import tree

ENV = {**os.environ, "GIT_AUTHOR_NAME": "Up", "GIT_AUTHOR_EMAIL": "up@x", "GIT_COMMITTER_NAME": "Up",
       "GIT_COMMITTER_EMAIL": "up@x", "GIT_CONFIG_NOSYSTEM": "1"}
HISTORY = 100  # upstream commits before the series, each with its own file


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True,
                          text=True, timeout=120).stdout.strip()


def objects(repo: Path) -> int:
    """Objects in the repository's own store (loose and packed), not those it borrows."""
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    return int(counts["count"]) + int(counts["in-pack"])


def upstream_with_history(tmp_path: Path, upstream: Path) -> None:
    create_upstream(upstream)
    work = tmp_path / "upstream-work"
    git(tmp_path, "clone", "-q", str(upstream), str(work))
    for n in range(HISTORY):
        (work / "docs" / f"history-{n:02d}.txt").write_text(f"upstream change {n}\n")
        git(work, "add", "-A")
        git(work, "commit", "-qm", f"docs: history {n}")
    git(work, "push", "-q", "origin", "HEAD:main")


def test_publishing_adds_only_the_series_objects_and_a_reader_fetches_over_http(bot_settings, tmp_path):
    upstream = Path(bot_settings.project("demo").upstream)
    upstream_with_history(tmp_path, upstream)
    ptree = tree.ProjectTree(tmp_path / "wt", str(upstream), "main")
    tree.ensure_mirror(ptree)
    base = tree.tip(ptree)
    mails = [(i, raw) for i, raw in enumerate(demo_mails("pub")[1:], start=1)]
    applied = tree.apply_patches(ptree, base, mails, tmp_path / "mails")
    assert [a.status for a in applied] == ["ok"] * 4
    head = applied[-1].commit
    repo = bot_settings.data_dir / "published" / "demo.git"
    tree.publish(ptree, repo, "series/1/run-1", head)

    # only the series' commits, trees and blobs (and the few bases their deltas need): upstream's
    # history stays in the mirror
    series_objects = len(git(ptree.mirror, "rev-list", "--objects", f"{base}..{head}").splitlines())
    assert 0 < objects(repo) <= 2 * series_objects, (objects(repo), series_objects)
    assert objects(ptree.mirror) > HISTORY * 3 > 3 * objects(repo)
    alternates = (repo / "objects" / "info" / "alternates").read_text().splitlines()
    assert len(alternates) == 1 and not os.path.isabs(alternates[0])  # no machine path served with it
    assert git(repo, "rev-list", "--count", "series/1/run-1") == str(HISTORY + 1 + 4)
    git(repo, "fsck", "--connectivity-only", "--no-dangling")

    # the series' objects are the repo's own (a dumb-HTTP reader cannot follow the loan)
    own = subprocess.run(["git", "cat-file", "-e", head], cwd=repo, env={**ENV, "GIT_ALTERNATE_OBJECT_DIRECTORIES": ""},
                         capture_output=True)
    assert own.returncode == 0

    # a second publish of the same mirror: the list of alternates stays one line
    tree.publish(ptree, repo, "series/1/run-2", applied[1].commit)
    assert (repo / "objects" / "info" / "alternates").read_text().splitlines() == alternates

    # a reader with a clone of upstream fetches the branch the reply names, from the dashboard
    reader = tmp_path / "reader"
    git(tmp_path, "clone", "-q", str(upstream), str(reader))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(bot_settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(port, 30)
        git(reader, "fetch", "-q", f"http://127.0.0.1:{port}/git/demo.git", "series/1/run-1")
    finally:
        server.should_exit = True
        thread.join(10)
    assert git(reader, "rev-parse", "FETCH_HEAD") == head
    git(reader, "checkout", "-q", head[:12])
    assert git(reader, "log", "--format=%s", "-1") == git(ptree.mirror, "log", "--format=%s", "-1", head)
