"""Every rule on its own fixture folder (tests/fixtures/rules/<rule-id>/): good.patch gives no
finding, bad.patch gives exactly expected.json; both applied with git am onto libvirt-mini and judged
through check_range, the code path of `seriesbot rules check` and of the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.records import Severity
from tests.fixtures.rulesrepo import RULES, am, expected, mini_repo
from workers.rules import Rule, discover
from workers.rules.local import check_range

FOLDERS = sorted(p.name for p in RULES.iterdir() if p.is_dir())


def judge(tmp_path: Path, patch: Path, rules: list[Rule]) -> list[tuple[str, str, int]]:
    repo, base = mini_repo(tmp_path / "repo")
    head = am(repo, patch)
    results = check_range(repo, f"{base}..{head}", rules)
    findings = [f for r in results for f in r.findings]
    assert not [f for f in findings if f.severity == Severity.INFRA], findings
    return sorted((f.rule_id, f.path, f.line) for f in findings)


def only(rule_id: str) -> list[Rule]:
    chosen = [r for r in discover() if r.id == rule_id]
    assert chosen, f"no rule {rule_id} for the fixture folder of that name"
    return chosen


@pytest.mark.parametrize("rule_id", FOLDERS)
def test_bad_patch_gives_exactly_the_expected_findings(rule_id: str, tmp_path: Path) -> None:
    want = sorted((e["id"], e["path"], e["line"]) for e in expected(rule_id))
    assert want and all(e[0] == rule_id for e in want)
    assert judge(tmp_path, RULES / rule_id / "bad.patch", only(rule_id)) == want


@pytest.mark.parametrize("rule_id", FOLDERS)
def test_good_patch_gives_no_finding_from_its_rule(rule_id: str, tmp_path: Path) -> None:
    assert judge(tmp_path, RULES / rule_id / "good.patch", only(rule_id)) == []


_CLEAN: dict[bytes, list[tuple[str, str, int]]] = {}


@pytest.mark.parametrize("rule_id", FOLDERS)
def test_good_patch_gives_no_finding_from_any_rule(rule_id: str, tmp_path: Path) -> None:
    patch = RULES / rule_id / "good.patch"
    content = patch.read_bytes()
    if content not in _CLEAN:  # the folders share their good patch: judge each distinct one once
        _CLEAN[content] = judge(tmp_path, patch, discover())
    assert _CLEAN[content] == []
