from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import calls
from workers.rules.libvirt_api import entries


@rule
class EntryResetsError:
    """A public API entry point calls virResetLastError().

    Guide, "implement the public API": the entry point "MUST call virResetLastError();" so that a
    caller never sees an error left over from an earlier call. Judged on every entry point the patch
    adds, and on a changed one that called it before the patch.
    """

    id = "libvirt.entry-resets-error"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "MUST call virResetLastError();"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            if entry.lacks(lambda fn: calls(fn.body, "virResetLastError")):
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name} does not call virResetLastError()")
