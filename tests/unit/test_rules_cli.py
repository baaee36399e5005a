"""`seriesbot rules check` and `rules list` as a contributor runs them: a subprocess, its output and
its exit code (non-zero when a patch has an error)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures.rulesrepo import am, mini_repo, series_patches
from workers.rules import discover, rules_markdown

ROOT = Path(__file__).resolve().parents[2]


def seriesbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_check_prints_findings_per_commit_and_fails_on_errors(demo_series_repo) -> None:
    work, base, head = demo_series_repo
    done = seriesbot("rules", "check", "--repo", str(work), f"{base}..{head}")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.startswith("[")] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert lines[0].endswith("domain: Introduce virDomainReset API: ok")
    assert ("    src/libvirt-domain.c:408: error: public API virDomainInjectNMI does not call virResetLastError() "
            "[libvirt.entry-resets-error]") in lines
    assert sum(1 for line in lines if line.startswith("    ")) == 1


def test_check_json(demo_series_repo) -> None:
    work, base, head = demo_series_repo
    done = seriesbot("rules", "check", "--json", "--repo", str(work), f"{base}..{head}")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [(c["index"], [(f["rule_id"], f["path"], f["line"]) for f in c["findings"]]) for c in report] == [
        (1, []), (2, [("libvirt.entry-resets-error", "src/libvirt-domain.c", 408)]), (3, []), (4, [])]
    assert report[1]["findings"][0]["guide"] == "MUST call virResetLastError();"


def test_check_exits_zero_on_a_series_that_follows_the_guide(tmp_path: Path) -> None:
    repo, base = mini_repo(tmp_path / "repo")
    head = am(repo, *series_patches())
    done = seriesbot("rules", "check", "--repo", str(repo), "--profile", "generic", "--profile", "libvirt",
                     f"{base}..{head}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": ok") == len(series_patches())


def test_check_refuses_a_bad_range(tmp_path: Path) -> None:
    repo, _ = mini_repo(tmp_path / "repo")
    done = seriesbot("rules", "check", "--repo", str(repo), "HEAD")
    assert done.returncode == 2 and "expected a range" in done.stderr


def test_list_markdown_is_the_readme_table() -> None:
    done = seriesbot("rules", "list", "--markdown")
    assert done.returncode == 0
    assert done.stdout == rules_markdown(discover())
    plain = seriesbot("rules", "list").stdout
    assert all(r.id in plain for r in discover())
