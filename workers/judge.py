"""Pure: blame only what the patch did. Compare a patch's build and test outcome with upstream's
own verdict and with the patch before it: new failures are the patch's, failures upstream has too
are not, a test that passes when re-run alone is flaky, and a patch that repairs an earlier one is
said to fix it. A patch that fails exactly as an earlier patch of the series left the tree is
"blocked" (still broken since that patch), not failed; any error it adds is its own. Upstream that
does not build is nobody's fault on the list: an infrastructure state for the admins.

Upstream's verdict is asked for (a callable: building it costs a full build) only when a patch's
build or tests fail; a passing patch never waits for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.records import CompilerMessage
from workers.baseline import BaselineVerdict
from workers.steps import StepOutcome

MAX_ERRORS = 20  # build errors kept per patch for the reply and the API (the log has them all)

Upstream = BaselineVerdict | Callable[[], BaselineVerdict]


def _verdict(base: Upstream) -> BaselineVerdict:
    return base if isinstance(base, BaselineVerdict) else base()


@dataclass
class PatchState:
    """What the previous patch left behind."""

    build_ok: bool
    failed_tests: dict[str, int] = field(default_factory=dict)  # test -> the patch that broke it
    build_broken_by: int | None = None
    build_errors: dict[str, int] = field(default_factory=dict)  # error key -> the patch that brought it


def error_key(message: CompilerMessage) -> str:
    """The same error after a later patch: its file, function and text, not its line (a later patch
    that edits the file moves it) nor the target (several objects report one header's error)."""
    return f"{message.path}|{message.function}|{message.kind}|{message.text}"


def short_tail(text: str, lines: int = 8) -> str:
    """The lines of a test log that say what went wrong, else its last lines."""
    all_lines = text.rstrip().splitlines()
    keys = ("fail", "error", "assert", "expected", "abort", "segmentation", "traceback")
    hits = [i for i, line in enumerate(all_lines) if any(k in line.lower() for k in keys)]
    if hits:
        first = hits[0]
        return "\n".join(all_lines[max(0, first - 2): first + lines - 2])
    return "\n".join(all_lines[-lines:])


def judge_build(built: StepOutcome, base: Upstream, state: PatchState, index: int,
                details: dict[str, Any]) -> tuple[str, str, PatchState]:
    """(build status, test status when the build did not pass, the state after this patch). A
    build status of "error" with details["upstream_broken"] means upstream itself does not build:
    the run stops as an infrastructure state (upstream's verdict is only looked at here, after a
    failure)."""
    after = PatchState(build_ok=built.status == "ok", failed_tests=dict(state.failed_tests),
                       build_broken_by=None if built.status == "ok" else (state.build_broken_by or index))
    if built.status == "error":
        details["build_note"] = f"infrastructure: {built.note}"
        return "error", "skip", after
    if built.status == "ok":
        if not state.build_ok and state.build_broken_by:
            details["build_note"] = f"build fixed by this patch (broken since patch {state.build_broken_by})"
        return "ok", "pending", after
    errors = [m for m in built.messages if m.kind == "error"]
    keys = [error_key(m) for m in errors] or [f"||error|{built.note or 'build failed'}"]
    report = built.report
    if report is not None:
        details["build_error_count"] = max(report.error_count, len(errors))
        details["build_warning_count"] = report.warning_count
        if report.failed_targets:
            details["build_failed_targets"] = report.failed_targets[:MAX_ERRORS]
    if built.note:
        details["build_note"] = built.note
    details["test_note"] = "not run: the build failed"
    base = _verdict(base)
    if not base.build_ok:
        details["build_errors"] = [str(m) for m in errors][:MAX_ERRORS]
        details["upstream_broken"] = True
        details["build_note"] = (f"upstream {base.sha[:12]} does not build with this configuration either: "
                                 "not tested (an infrastructure problem, the admins are told)")
        return "error", "skip", after
    broken_before = not state.build_ok and state.build_broken_by is not None
    since = [state.build_errors.get(k, index) if broken_before else index for k in keys]
    after.build_errors = dict(zip(keys, since, strict=True))
    new = [i for i, s in enumerate(since) if s == index]
    order = new + [i for i, s in enumerate(since) if s != index]  # the patch's own errors first
    details["build_errors"] = [str(errors[i]) for i in order if i < len(errors)][:MAX_ERRORS]
    details["build_error_targets"] = [errors[i].target for i in order if i < len(errors)][:MAX_ERRORS]
    details["build_errors_since"] = [since[i] for i in order if i < len(errors)][:MAX_ERRORS]
    details["build_error_keys"] = [[k, s] for k, s in after.build_errors.items()][:500]
    if broken_before and not new:
        details["build_note"] = (f"still broken since patch {state.build_broken_by}: it fails as that patch "
                                 "left the tree, and adds no error of its own")
        return "blocked", "skip", after
    if broken_before:
        old = len(keys) - len(new)
        details["build_note"] = (f"{len(new)} new error(s) in this patch" +
                                 (f"; {old} more still broken since patch {state.build_broken_by}" if old else ""))
    return "fail", "skip", after


def judge_tests(tested: StepOutcome, base: Upstream, state: PatchState, after: PatchState, index: int,
                details: dict[str, Any], rerun_alone: Callable[[str], bool]) -> str:
    if tested.status == "error":
        details["test_note"] = f"infrastructure: {tested.note}"
        return "error"
    failing = {t.name: t for t in tested.failed_tests}
    upstream_fails = _verdict(base).failed_tests if failing else frozenset()
    flaky = sorted(n for n in failing if n not in upstream_fails and n not in state.failed_tests and rerun_alone(n))
    for name in flaky:
        failing.pop(name)
    if flaky:
        details["flaky_tests"] = flaky
    upstream_too = sorted(n for n in failing if n in upstream_fails)
    if upstream_too:
        details["upstream_failures"] = upstream_too
    blamed = {n: t for n, t in failing.items() if n not in upstream_fails}
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
    if all(after.failed_tests[n] != index for n in blamed):
        details["test_note"] = "still failing as earlier patches left them; no new failure in this patch"
        return "blocked"
    return "fail"
