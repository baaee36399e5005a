"""Pure: the per-step lines of one patch's result, as its reply and the summary show them. One line
when a step passed (with how long it took and, for tests, how many ran); what helps when it failed:
every error of the build first, grouped under the target ninja could not make, warnings counted
apart, a patch that only inherits an earlier patch's breakage said to be "still broken" rather than
failed, and the C files this configuration does not compile named."""

from __future__ import annotations

import textwrap
from typing import Any

WIDTH = 76
MAX_ERRORS_SHOWN = 10
IN = "        "  # the indent under a step's name


def wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=True, break_on_hyphens=False) or [indent]


def step(text: str) -> list[str]:
    """A step's line, continued under the step's text."""
    return textwrap.wrap(text, WIDTH, subsequent_indent=IN, break_long_words=True, break_on_hyphens=False) or [""]


def seconds(durations: dict[str, float], key: str) -> str:
    value = durations.get(key)
    if not isinstance(value, int | float):
        return ""
    setup = durations.get("setup") if key == "build" else None
    if isinstance(setup, int | float):
        return f" ({value:.1f} s; setup {setup:.1f} s)"
    return f" ({value:.1f} s)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def tests_ran(d: dict[str, Any]) -> str:
    """"242 tests ran (syntax-check 134, default 108), 3 skipped" from the stored counts."""
    counts = d.get("tests")
    if not isinstance(counts, dict):
        return ""
    text = f"{_plural(int(counts.get('run', 0)), 'test')} ran"
    suites = counts.get("suites") or {}
    if len(suites) > 1:
        text += " (" + ", ".join(f"{name} {n}" for name, n in suites.items()) + ")"
    elif len(suites) == 1:
        text += f" ({next(iter(suites))})"
    if counts.get("skipped"):
        text += f", {counts['skipped']} skipped"
    return text


def apply_lines(result: Any) -> list[str]:
    d = result.details
    if result.apply == "ok":
        return [f"apply   ok{' (' + (result.commit or '')[:12] + ')' if result.commit else ''}"]
    if result.apply == "warn":
        return [f"apply   {d.get('apply_note', 'already applied upstream')}"]
    if result.apply == "fail":
        files = ", ".join(d.get("conflict_files") or []) or "see the log"
        return wrap(f"apply   FAILED: {d.get('apply_note', 'does not apply')}; conflict in {files}")
    return wrap(f"apply   {d.get('apply_note', 'not tested')}")


def error_lines(d: dict[str, Any], index: int) -> list[str]:
    """The build's errors (the patch's own first), a `FAILED: target` line over those of a target
    that is not an object file (a library, a program: link errors), and what was left out."""
    errors = list(d.get("build_errors") or [])
    targets = list(d.get("build_error_targets") or [])
    since = list(d.get("build_errors_since") or [])
    lines: list[str] = []
    shown_target = None
    for i, error in enumerate(errors[:MAX_ERRORS_SHOWN]):
        target = targets[i] if i < len(targets) else ""
        origin = since[i] if i < len(since) else index
        indent = IN
        if target and not target.endswith((".o", ".obj")):
            if target != shown_target:
                lines.extend(wrap(f"FAILED: {target}", IN))
                shown_target = target
            indent = IN + "  "
        else:
            shown_target = None
        suffix = f" (since patch {origin})" if origin != index else ""
        lines.extend(wrap(error + suffix, indent))
    total = max(int(d.get("build_error_count") or 0), len(errors))
    if total > min(len(errors), MAX_ERRORS_SHOWN):
        lines.append(f"{IN}... and {_plural(total - min(len(errors), MAX_ERRORS_SHOWN), 'more error')} "
                     "in the log")
    others = [t for t in d.get("build_failed_targets") or [] if t not in targets[:MAX_ERRORS_SHOWN]]
    if others:
        lines.extend(wrap(f"also failed: {', '.join(others[:8])}" + (" ..." if len(others) > 8 else ""), IN))
    return lines


def build_lines(result: Any) -> list[str]:
    d = result.details
    took = seconds(result.durations, "build")
    lines: list[str] = []
    if result.build == "ok":
        lines.append(f"build   ok{took}")
        if d.get("build_note"):
            lines.extend(wrap(d["build_note"], IN))
    elif result.build == "warn" and d.get("new_warnings"):
        lines.append(f"build   ok, with new warnings{took}")
        for warning in d["new_warnings"][:5]:
            lines.extend(wrap(warning, IN))
    elif result.build in ("fail", "warn", "error", "blocked"):
        word = {"fail": "FAILED", "warn": "failed, not blamed", "error": "ERROR (ours, not yours)",
                "blocked": "still broken (not this patch's doing)"}[result.build]
        count = ""
        if d.get("build_error_count"):
            count = f": {_plural(int(d['build_error_count']), 'error')}"
            if d.get("build_warning_count"):
                count += f", {_plural(int(d['build_warning_count']), 'warning')}"
        lines.append(f"build   {word}{took}{count}")
        if d.get("build_note"):
            lines.extend(wrap(d["build_note"], IN))
        lines.extend(error_lines(d, result.index))
        for note in d.get("submodule_notes") or []:
            lines.extend(wrap(note, IN))
    elif result.build == "skip" and result.apply == "ok":
        lines.append("build   not run")
    if d.get("not_built"):
        lines.extend(wrap("not built here (this configuration does not compile it): "
                          + ", ".join(d["not_built"]), IN))
    return lines


def test_lines(result: Any) -> list[str]:
    d = result.details
    took = seconds(result.durations, "test")
    ran = tests_ran(d)
    lines: list[str] = []
    if result.test == "ok":
        lines.extend(step(f"test    ok{took}" + (f": {ran}" if ran else "")))
    elif result.test in ("fail", "blocked"):
        failed = d.get("failed_tests") or []
        new = [t for t in failed if t.get("since") == result.index]
        old = [t for t in failed if t.get("since") != result.index]
        if result.test == "blocked":
            head = f"test    still failing (not this patch's doing){took}"
        else:
            head = f"test    FAILED{took}" + (f": {len(new)} new failure(s)" if new else ": still failing")
        lines.extend(step(head + (f"; {ran}" if ran else "")))
        for t in new[:5]:
            lines.append(f"{IN}{t['name']} ({t.get('status', 'FAIL')}, new in this patch)")
            for tail in (t.get("log_tail") or "").splitlines()[-5:]:
                lines.append(f"          | {tail[:WIDTH - 12]}")
        for t in old[:5]:
            lines.append(f"{IN}{t['name']} (failing since patch {t.get('since')})")
        if not failed and d.get("test_note"):
            lines.extend(wrap(d["test_note"], IN))
    elif result.test == "error":
        lines.extend(wrap(f"test    ERROR (ours, not yours): {d.get('test_note', '')}"))
    elif result.test == "skip" and result.build in ("ok",):
        lines.extend(wrap(f"test    {d.get('test_note', 'not run')}"))
    elif result.test == "skip" and result.build in ("fail", "warn", "blocked"):
        lines.append("test    not run (the build failed)")
    for key, label in (("fixed_tests", "fixed by this patch"),
                       ("upstream_failures", "fail on upstream as well, not blamed"),
                       ("flaky_tests", "flaky (failed, then passed alone), not blamed")):
        if d.get(key):
            lines.extend(wrap(f"{label}: {', '.join(d[key])}", IN))
    return lines


def rules_lines(result: Any) -> list[str]:
    lines: list[str] = []
    if result.rules == "ok":
        lines.append("rules   ok")
    elif result.rules in ("fail", "warn"):
        count = len(result.findings)
        lines.append(f"rules   {'FAILED' if result.rules == 'fail' else 'warnings'}: {count} finding(s)")
        for f in result.findings[:10]:
            where = f"{f.path}:{f.line}" if f.path else "commit"
            origin = f" (patch {f.patch_index})" if f.patch_index and f.patch_index != result.index else ""
            lines.extend(wrap(f"{where}{origin}: {f.severity}: {f.message} [{f.rule_id}]", IN))
            if f.guide:
                lines.extend(wrap(f'guide: "{f.guide}"', "          "))
        if count > 10:
            lines.append(f"{IN}... and {count - 10} more on the dashboard")
    elif result.rules == "error":
        lines.append("rules   ERROR (a rule crashed: ours, not yours)")
    return lines


def upstream_lines(result: Any) -> list[str]:
    """How long this failing patch waited for upstream's own build and tests (taken only then)."""
    took = result.durations.get("upstream")
    if not isinstance(took, int | float):
        return []
    return wrap(f"upstream's own build and tests, to tell this patch's failures from upstream's: {took:.1f} s", IN)


def patch_lines(result: Any) -> list[str]:
    """The per-step lines of one patch: one line when a step passed, what helps when it failed."""
    lines: list[str] = []
    if result.details.get("reused_note"):
        lines.extend(wrap(f"note    {result.details['reused_note']}"))
    return [*lines, *apply_lines(result), *build_lines(result), *test_lines(result), *upstream_lines(result),
            *rules_lines(result)]


def cell(status: str) -> str:
    """A summary table cell."""
    return {"ok": "ok", "fail": "FAIL", "warn": "warn", "blocked": "still", "skip": "-", "error": "ERR",
            "pending": "..."}.get(status, status)[:5].ljust(5)


def wrap_title(lead: str, title: str) -> list[str]:
    """A table row: the whole subject, continued under its own column when it is long."""
    return textwrap.wrap(title, WIDTH, initial_indent=lead, subsequent_indent=" " * len(lead),
                         break_long_words=True, break_on_hyphens=False) or [lead.rstrip()]
