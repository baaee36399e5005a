from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.libvirt_api import DEBUG_RE, entries


@rule
class EntryLogsDebug:
    """A public API entry point logs its call with VIR_DEBUG() (or VIR_DOMAIN_DEBUG() and kin).

    Guide, "implement the public API": it "SHOULD log a message with VIR_DEBUG() indicating that it is
    being called and its parameters". libvirt-domain.c mostly uses VIR_DOMAIN_DEBUG(), which wraps it.
    Whether every parameter is logged is not judged: libvirt itself leaves out arrays and secrets.
    """

    id = "libvirt.entry-logs-debug"
    severity = Severity.WARNING
    scope = Scope.PATCH
    guide = "SHOULD log a message with VIR_DEBUG() indicating that it is being called and its parameters"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            if entry.lacks(lambda fn: DEBUG_RE.search(fn.body) is not None):
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name} does not log its call and parameters with VIR_DEBUG()")
