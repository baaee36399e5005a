"""The rules over the sample series: exactly the findings expected.json states, per patch."""

import json

from bot.demo.upstream import HERE as DEMO_DIR
from workers.rules import rules_for_project
from workers.rules.local import check_range

EXPECTED = json.loads((DEMO_DIR / "expected.json").read_text())


def test_sample_series_findings(demo_series_repo):
    work, base, head = demo_series_repo
    results = check_range(work, f"{base}..{head}", rules_for_project(("generic", "libvirt")))
    assert [r.index for r in results] == [1, 2, 3, 4]
    for r in results:
        expected = next(p for p in EXPECTED["patches"] if p["index"] == r.index)
        got = sorted((f.rule_id, f.path, f.line) for f in r.findings)
        want = sorted((x["id"], x["path"], x["line"]) for x in expected["rules"])
        assert got == want, (r.index, r.findings)
