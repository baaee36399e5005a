"""Pure: blame only what the patch did. Compare a patch's build and test outcome with upstream's
own verdict and with the patch before it: new failures are the patch's, failures upstream has too
are not, a test that passes when re-run alone is flaky, and a patch that repairs an earlier one is
said to fix it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workers.baseline import BaselineVerdict
from workers.steps import StepOutcome


@dataclass
class PatchState:
    """What the previous patch left behind."""

    build_ok: bool
    failed_tests: dict[str, int] = field(default_factory=dict)  # test -> the patch that broke it
    build_broken_by: int | None = None


def short_tail(text: str, lines: int = 8) -> str:
    """The lines of a test log that say what went wrong, else its last lines."""
    all_lines = text.rstrip().splitlines()
    keys = ("fail", "error", "assert", "expected", "abort", "segmentation", "traceback")
    hits = [i for i, line in enumerate(all_lines) if any(k in line.lower() for k in keys)]
    if hits:
        first = hits[0]
        return "\n".join(all_lines[max(0, first - 2): first + lines - 2])
    return "\n".join(all_lines[-lines:])


def judge_build(built: StepOutcome, base: BaselineVerdict, state: PatchState, index: int,
                details: dict[str, Any]) -> tuple[str, str, PatchState]:
    """(build status, test status when the build did not pass, the state after this patch)."""
    after = PatchState(build_ok=built.status == "ok", failed_tests=dict(state.failed_tests),
                       build_broken_by=None if built.status == "ok" else (state.build_broken_by or index))
    if built.status == "error":
        details["build_note"] = f"infrastructure: {built.note}"
        return "error", "skip", after
    if built.status == "ok":
        if not state.build_ok and state.build_broken_by:
            details["build_note"] = f"build fixed by this patch (broken since patch {state.build_broken_by})"
        return "ok", "pending", after
    details["build_errors"] = [str(m) for m in built.messages if m.kind == "error"][:5]
    if built.note:
        details["build_note"] = built.note
    details["test_note"] = "not run: the build failed"
    if not base.build_ok:
        details["build_note"] = "upstream fails to build as well: not blamed on this patch"
        return "warn", "skip", after
    if not state.build_ok and state.build_broken_by:
        details["build_note"] = f"still broken since patch {state.build_broken_by}"
    return "fail", "skip", after


def judge_tests(tested: StepOutcome, base: BaselineVerdict, state: PatchState, after: PatchState, index: int,
                details: dict[str, Any], rerun_alone: Callable[[str], bool]) -> str:
    if tested.status == "error":
        details["test_note"] = f"infrastructure: {tested.note}"
        return "error"
    failing = {t.name: t for t in tested.failed_tests}
    flaky = sorted(n for n in failing if n not in base.failed_tests and n not in state.failed_tests and rerun_alone(n))
    for name in flaky:
        failing.pop(name)
    if flaky:
        details["flaky_tests"] = flaky
    upstream_too = sorted(n for n in failing if n in base.failed_tests)
    if upstream_too:
        details["upstream_failures"] = upstream_too
    blamed = {n: t for n, t in failing.items() if n not in base.failed_tests}
    after.failed_tests = {n: state.failed_tests.get(n, index) for n in blamed}
    fixed = sorted(n for n in state.failed_tests if n not in failing)
    if fixed:
        details["fixed_tests"] = fixed
    if tested.status == "fail" and not failing and not flaky:
        details["test_note"] = tested.note or "the test command failed"
        return "fail"
    if not blamed:
        return "ok"
    details["failed_tests"] = [
        {"name": n, "status": t.status, "since": after.failed_tests[n], "log_tail": short_tail(t.log_tail)}
        for n, t in sorted(blamed.items())
    ]
    return "fail"
