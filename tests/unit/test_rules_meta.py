"""Meta-tests guarding the rule seam: identity, discovery, the guide's own words, fixtures, README."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from bot.records import Scope, Severity
from tests.fixtures.rulesrepo import GUIDE, RULES
from workers.rules import PROFILES, README_HEADING, discover, rules_markdown, title_of

ROOT = Path(__file__).resolve().parents[2]
SHARED_GUIDE = Path("/work/shared/reference/api-extension-guide.txt")
RULES_BY_ID = {r.id: r for r in discover()}
ID_RE = re.compile(r"^(generic|libvirt)\.[a-z0-9]+(-[a-z0-9]+)*$")


def test_ids_are_unique_and_well_formed() -> None:
    ids = [r.id for r in discover()]
    assert len(ids) == len(set(ids))
    for rule_id in ids:
        assert ID_RE.match(rule_id), rule_id


@pytest.mark.parametrize("rule_id", sorted(RULES_BY_ID))
def test_every_rule_has_title_severity_scope_and_lives_in_its_profile(rule_id: str) -> None:
    rule = RULES_BY_ID[rule_id]
    doc = (type(rule).__doc__ or "").strip()
    assert doc and title_of(rule) == doc.splitlines()[0] and title_of(rule).endswith(".")
    assert rule.severity in (Severity.ERROR, Severity.WARNING)
    assert rule.scope in (Scope.PATCH, Scope.SERIES_END)
    assert type(rule).__module__.startswith(f"workers.rules.{rule_id.split('.')[0]}.")


@pytest.mark.parametrize("rule_id", sorted(RULES_BY_ID))
def test_guide_sentence_is_verbatim(rule_id: str) -> None:
    rule = RULES_BY_ID[rule_id]
    guide = GUIDE.read_text()
    if rule_id.startswith("libvirt."):
        assert rule.guide and rule.guide in guide, f"{rule_id}: guide text is not verbatim in {GUIDE.name}"
    else:
        assert rule.guide == "" or rule.guide in guide
        assert getattr(rule, "source", ""), f"{rule_id}: a generic rule names its source"


@pytest.mark.skipif(not SHARED_GUIDE.exists(), reason="no shared reference checkout here")
def test_fixture_guide_is_the_reference_guide() -> None:
    assert GUIDE.read_text() == SHARED_GUIDE.read_text()


def test_every_rule_has_a_fixture_folder_and_every_folder_a_rule() -> None:
    folders = {p.name for p in RULES.iterdir() if p.is_dir()}
    assert folders == set(RULES_BY_ID)
    for name in folders:
        assert {"good.patch", "bad.patch", "expected.json"} <= {p.name for p in (RULES / name).iterdir()}


def test_one_rule_per_module() -> None:
    for profile in PROFILES:
        package = importlib.import_module(f"workers.rules.{profile}")
        for info in pkgutil.iter_modules(package.__path__):
            tree = ast.parse(Path(package.__path__[0], f"{info.name}.py").read_text())
            decorated = [n.name for n in tree.body if isinstance(n, ast.ClassDef)
                         and any(isinstance(d, ast.Name) and d.id == "rule" for d in n.decorator_list)]
            assert len(decorated) == 1, f"{profile}/{info.name}.py holds {decorated}"


def test_readme_rules_table_is_generated() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(README_HEADING)
    end = readme.find("\n## ", start + len(README_HEADING))
    section = readme[start:] if end < 0 else readme[start : end + 1]
    assert section.rstrip("\n") == rules_markdown(discover()).rstrip("\n"), \
        "README.md is stale: replace its section with `seriesbot rules list --markdown`"
