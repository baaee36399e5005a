"""Blame only what the patch did (pure)."""

from bot.records import CompilerMessage, TestOutcome
from workers.baseline import BaselineVerdict
from workers.judge import PatchState, judge_build, judge_tests, short_tail
from workers.steps import StepOutcome

GREEN = BaselineVerdict("b" * 40, True, frozenset(), True)


def failing(*names):
    return StepOutcome("fail", 1.0, tests=[TestOutcome(n, "FAIL", 0.1, f"log of {n}\nFAIL: x") for n in names])


def test_new_failure_is_blamed_with_its_name():
    details, after = {}, PatchState(True)
    status = judge_tests(failing("domain-state"), GREEN, PatchState(True), after, 3, details, lambda n: False)
    assert status == "fail"
    assert details["failed_tests"][0]["name"] == "domain-state" and details["failed_tests"][0]["since"] == 3
    assert after.failed_tests == {"domain-state": 3}


def test_failure_upstream_has_too_is_not_blamed():
    base = BaselineVerdict("b" * 40, True, frozenset({"net"}), True)
    details = {}
    status = judge_tests(failing("net"), base, PatchState(True), PatchState(True), 1, details, lambda n: False)
    assert status == "ok" and details["upstream_failures"] == ["net"]


def test_flaky_test_is_reported_as_flaky():
    details = {}
    status = judge_tests(failing("timing"), GREEN, PatchState(True), PatchState(True), 1, details, lambda n: True)
    assert status == "ok" and details["flaky_tests"] == ["timing"]


def test_still_failing_keeps_the_patch_that_broke_it_and_fixed_is_said():
    before = PatchState(True, {"a": 2, "b": 2})
    after = PatchState(True)
    details = {}
    # issue 11: failing only as patch 2 left it is "still broken" (blocked), not a failure of patch 4
    assert judge_tests(failing("a"), GREEN, before, after, 4, details, lambda n: False) == "blocked"
    assert details["failed_tests"][0]["since"] == 2
    assert details["fixed_tests"] == ["b"]


def test_build_fixed_by_a_later_patch():
    details = {}
    ok = StepOutcome("ok", 1.0)
    status, _, after = judge_build(ok, GREEN, PatchState(False, build_broken_by=2), 3, details)
    assert status == "ok" and "fixed by this patch" in details["build_note"] and after.build_ok


def test_build_failure_with_errors_and_upstream_broken_too():
    broken = StepOutcome("fail", 1.0, messages=[CompilerMessage("src/a.c", 3, 1, "error", "oops")])
    details = {}
    status, test, _ = judge_build(broken, GREEN, PatchState(True), 1, details)
    assert (status, test) == ("fail", "skip") and details["build_errors"] == ["src/a.c:3:1: error: oops"]
    red = BaselineVerdict("b" * 40, False, frozenset(), True)
    details = {}
    status, _, _ = judge_build(broken, red, PatchState(False), 1, details)
    # issue 11: upstream that does not build is an infrastructure state, never a warn on the patch
    assert status == "error" and details["upstream_broken"]


def test_short_tail_starts_at_the_failure():
    text = "\n".join(f"line {i}" for i in range(40)) + "\nFAIL: expected 1 got 5\nmore\n"
    assert short_tail(text).splitlines()[2] == "FAIL: expected 1 got 5"


def test_only_warnings_on_added_lines_are_the_patch_s():
    from workers.pipeline import new_warnings

    diff = "diff --git a/src/a.c b/src/a.c\n--- a/src/a.c\n+++ b/src/a.c\n@@ -1,2 +1,3 @@\n int a;\n+int b;\n int c;\n"
    warnings = [CompilerMessage("src/a.c", 2, 5, "warning", "unused variable 'b'"),
                CompilerMessage("src/a.c", 3, 5, "warning", "unused variable 'c'"),
                CompilerMessage("src/other.c", 2, 1, "warning", "elsewhere")]
    assert new_warnings(warnings, diff) == ["src/a.c:2:5: warning: unused variable 'b'"]


def test_a_patch_that_only_inherits_the_broken_build_is_blocked_and_a_new_error_is_its_own():
    first = CompilerMessage("src/net.c", 10, 3, "error", "'foo' undeclared", function="netCreate")
    broken = StepOutcome("fail", 1.0, messages=[first])
    details1: dict = {}
    status, _, state = judge_build(broken, GREEN, PatchState(True), 1, details1)
    assert status == "fail" and details1["build_errors_since"] == [1]
    # patch 2 changes nothing there: the same error (moved by 2 lines) is patch 1's
    moved = StepOutcome("fail", 1.0, messages=[CompilerMessage("src/net.c", 12, 3, "error", "'foo' undeclared",
                                                               function="netCreate")])
    details2: dict = {}
    status, test, state = judge_build(moved, GREEN, state, 2, details2)
    assert (status, test) == ("blocked", "skip") and "still broken since patch 1" in details2["build_note"]
    assert details2["build_errors_since"] == [1]
    # patch 3 adds an error of its own while the tree is still broken: failed, its error first
    own = CompilerMessage("src/virsh.c", 5, 1, "error", "expected ';'")
    details3: dict = {}
    status, _, state = judge_build(StepOutcome("fail", 1.0, messages=[moved.messages[0], own]), GREEN, state, 3,
                                   details3)
    assert status == "fail" and details3["build_errors"][0].startswith("src/virsh.c:5:1: error: expected ';'")
    assert details3["build_errors_since"] == [3, 1] and "1 new error" in details3["build_note"]


def test_failing_tests_inherited_from_an_earlier_patch_are_blocked_and_a_new_one_fails():
    before = PatchState(True, {"a": 1})
    details: dict = {}
    assert judge_tests(failing("a"), GREEN, before, PatchState(True), 2, details, lambda n: False) == "blocked"
    details = {}
    assert judge_tests(failing("a", "b"), GREEN, before, PatchState(True), 2, details, lambda n: False) == "fail"
    assert [t["since"] for t in details["failed_tests"]] == [1, 2]
