"""bot.report.versiondiff: each patch of vN against vN-1, matched by patch-id, else by subject."""

from __future__ import annotations

from bot.report.versiondiff import PatchOutcome, VersionComparison, compare, render_lines


def test_fixed_newly_failing_unchanged_new_and_dropped():
    before = [PatchOutcome(1, "aa", "util: add helper", "fail"), PatchOutcome(2, "bb", "conf: parse it", "ok"),
              PatchOutcome(3, "cc", "docs: describe it", "ok"), PatchOutcome(4, "dd", "tests: old test", "ok")]
    after = [PatchOutcome(1, "a2", "[PATCH v2 1/4] util: add helper", "ok"),  # rewritten: matched by subject
             PatchOutcome(2, "bb", "conf: parse it, renamed", "fail"),  # same diff: matched by patch-id
             PatchOutcome(3, "cc", "docs: describe it", "warn"),
             PatchOutcome(4, "ee", "virsh: new command", "ok")]
    changes = compare(before, after)
    assert [(c.index, c.change, c.was) for c in changes] == [
        (1, "fixed", 1), (2, "newly failing", 2), (3, "unchanged", 3), (4, "new patch", None),
        (None, "dropped patch", 4)]
    lines = render_lines(VersionComparison(1, 7, changes))
    assert lines[0] == "Since v1: 1 fixed, 1 newly failing, 1 unchanged, 1 new patch, 1 dropped patch."
    assert "  -  dropped patch: tests: old test" in lines and not any("unchanged:" in line for line in lines)


def test_untested_previous_version_is_not_compared():
    changes = compare([PatchOutcome(1, "aa", "x", None)], [PatchOutcome(1, "aa", "x", "ok")])
    assert [c.change for c in changes] == ["not compared"]
