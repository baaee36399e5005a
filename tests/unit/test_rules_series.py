"""The multi-patch series tests/fixtures/series/libvirt-new-api adds virDomainSetTitle in the guide's
order, one patch per step. With every rule on, it gives no finding after any patch; each variant
(one defect from mutations.json in one patch) gives exactly that rule's finding, on exactly that
patch, or for a series-end rule on the last patch, naming the patch that introduced the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.records import Scope
from tests.fixtures.rulesrepo import am, expected, git, mini_repo, mutate, mutations, series_patches
from workers.rules import discover
from workers.rules.local import CommitFindings, check_range

PATCHES = series_patches()
SCOPES = {r.id: r.scope for r in discover()}
# for series-end rules: the patch that brought what the finding is about
INTRODUCED_BY = {
    "libvirt.remote-driver-wired": 4,  # the remote procedure
    "libvirt.virsh-command-for-api": 1,  # the public API
    "libvirt.test-driver-implements": 2,  # the driver callback
    "libvirt.xml-change-documented": 6,  # the parser of <title>
}


def run_series(tmp_path: Path, variant: dict[str, Any] | None = None) -> list[CommitFindings]:
    repo, base = mini_repo(tmp_path / "repo")
    step = variant["step"] if variant else len(PATCHES) + 1
    am(repo, *PATCHES[:step])
    if variant:
        mutate(repo, variant)
        if PATCHES[step:]:
            am(repo, *PATCHES[step:])
    head = git(repo, "rev-parse", "HEAD").strip()
    return check_range(repo, f"{base}..{head}", discover())


def test_the_series_follows_the_guide_step_by_step() -> None:
    subjects = [p.name for p in PATCHES]
    assert len(subjects) == 7
    assert [s.split("-", 2)[1] for s in subjects] == ["domain", "driver", "domain", "remote", "virsh", "conf",
                                                      "test"]


def test_no_finding_after_any_patch(tmp_path: Path) -> None:
    results = run_series(tmp_path)
    assert [r.index for r in results] == list(range(1, len(PATCHES) + 1))
    for r in results:
        assert r.findings == [], (r.index, r.subject, r.findings)


@pytest.mark.parametrize("rule_id", sorted(mutations()))
def test_one_defect_gives_exactly_its_finding_on_its_patch(rule_id: str, tmp_path: Path) -> None:
    variant = mutations()[rule_id]
    results = run_series(tmp_path, variant)
    series_end = SCOPES[rule_id] == Scope.SERIES_END
    on_patch = len(PATCHES) if series_end else variant["step"]
    want = sorted((e["id"], e["path"], e["line"]) for e in expected(rule_id))
    for r in results:
        got = sorted((f.rule_id, f.path, f.line) for f in r.findings)
        assert got == (want if r.index == on_patch else []), (r.index, r.subject, r.findings)
    if series_end:
        assert {f.patch_index for f in results[-1].findings} == {INTRODUCED_BY[rule_id]}
