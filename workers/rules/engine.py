"""run_rules: every rule over one context, timed; a rule that crashes yields an `infra` finding
for the admins (the Mailman "shunt"), never a verdict against the patch."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bot.records import Finding, Scope, Severity
from workers.rules import Rule
from workers.rules.context import RuleContext

log = logging.getLogger("seriesbot.rules")


@dataclass
class RulesOutcome:
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        severities = {f.severity for f in self.findings}
        if Severity.ERROR in severities:
            return "fail"
        if Severity.WARNING in severities:
            return "warn"
        if Severity.INFRA in severities:
            return "error"
        return "ok"


def run_rules(ctx: RuleContext, rules: list[Rule]) -> RulesOutcome:
    outcome = RulesOutcome()
    for rule in rules:
        if rule.scope == Scope.SERIES_END and not ctx.is_last:
            continue
        started = time.perf_counter()
        try:
            outcome.findings.extend(rule.check(ctx))
        except Exception as exc:
            log.exception("event=rule-crashed rule=%s patch=%d", rule.id, ctx.patch.index)
            outcome.findings.append(Finding(rule.id, Severity.INFRA, "", 0, f"rule crashed: {exc!r}"))
        outcome.timings[rule.id] = time.perf_counter() - started
    outcome.findings.sort(key=lambda f: (f.severity != Severity.ERROR, f.path, f.line, f.rule_id))
    return outcome
