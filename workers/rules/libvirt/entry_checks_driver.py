from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef, calls, driver_calls
from workers.rules.libvirt_api import entries


def checks_driver(fn: FunctionDef) -> bool:
    found = driver_calls(fn.body)
    unsupported = calls(fn.body, "virReportUnsupportedError") or "VIR_ERR_NO_SUPPORT" in fn.body
    return not found or (all(c.guarded for c in found) and unsupported)


@rule
class EntryChecksDriver:
    """A public API entry point tests that the driver implements a callback before calling it.

    Guide, "implement the public API": it "MUST confirm that the driver for this connection exists and
    that it implements this function;", i.e. `if (conn->driver->domainFoo) {...}` around the call and
    virReportUnsupportedError() when the callback is missing.
    """

    id = "libvirt.entry-checks-driver"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "MUST confirm that the driver for this connection exists and that it implements this function;"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            if not entry.lacks(checks_driver):
                continue
            found = driver_calls(entry.fn.body)
            bad = next((c for c in found if not c.guarded), None)
            if bad is not None:
                yield ctx.finding(self, entry.path, entry.fn.line_at(bad.offset),
                                  f"public API {entry.name} calls {bad.table}->{bad.member}() without testing "
                                  "that the driver implements it")
            else:
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name} does not report virReportUnsupportedError() when "
                                  "the driver lacks the callback")
