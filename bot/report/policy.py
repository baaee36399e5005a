"""Pure: from a project's report policy and a run's results, what is mailed. Rules only judge and
the renderer only writes; this decides (Mailman's rules/chains split)."""

from __future__ import annotations

from bot.report.render import ResultView, RunView
from bot.settings import ReportSettings


def should_reply_to_patch(policy: ReportSettings, result: ResultView, previous: ResultView | None) -> bool:
    """Reply on every patch (the mission), or only on problems; and never twice for a verdict that
    did not change since the previous run of the same series."""
    if policy.per_patch == "none":
        return False
    if result.verdict in ("pending", "running"):
        return False
    if previous is not None and same_verdict(previous, result):
        return False
    if policy.per_patch == "problems":
        return result.verdict in ("fail", "warn")
    return True


def same_verdict(a: ResultView, b: ResultView) -> bool:
    return (a.apply, a.build, a.test, a.rules) == (b.apply, b.build, b.test, b.rules) and \
        sorted((f.rule_id, f.path, f.line) for f in a.findings) == sorted((f.rule_id, f.path, f.line) for f in b.findings)


def should_send_summary(policy: ReportSettings, run: RunView) -> bool:
    return policy.summary and run.state in ("done", "error")
