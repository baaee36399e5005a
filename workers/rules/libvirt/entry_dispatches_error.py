from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef, calls, driver_calls
from workers.rules.libvirt_api import entries


def dispatches(fn: FunctionDef) -> bool:
    return not driver_calls(fn.body) or calls(fn.body, "virDispatchError")


@rule
class EntryDispatchesError:
    """A public API entry point that calls a driver dispatches the error with virDispatchError().

    Guide, "implement the public API": it "MUST return status to the caller." In libvirt a failure is
    returned as -1 plus the error, which reaches the caller (and the connection's error callback) only
    through virDispatchError() on the error path.
    """

    id = "libvirt.entry-dispatches-error"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "MUST return status to the caller."

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            if entry.lacks(dispatches):
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name} does not call virDispatchError() on its error path")
