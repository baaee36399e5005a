from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef
from workers.rules.libvirt_api import changes_state, entries

_READONLY_RE = re.compile(r"\bvirCheckReadOnly\w*\s*\(|\bVIR_CONNECT_RO\b")


def refuses_readonly(fn: FunctionDef) -> bool:
    return not changes_state(fn) or _READONLY_RE.search(fn.body) is not None


@rule
class EntryReadonlyCheck:
    """A public API entry point that changes state refuses read-only connections.

    Guide, "implement the public API": "SECURITY: If the API requires a connection with write
    privileges, MUST confirm that the connection flags do not indicate that the connection is read-only
    with virCheckReadOnlyGoto();". An API is taken to change state when its name carries a write verb
    (Set, Create, Destroy, Reset, Inject, ...) and no read verb (Get, List, Lookup, Is, ...); a
    conditional test of VIR_CONNECT_RO (as virDomainGetXMLDesc does for secure XML) also counts.
    """

    id = "libvirt.entry-readonly-check"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = ("SECURITY: If the API requires a connection with write privileges, MUST confirm that the "
             "connection flags do not indicate that the connection is read-only with virCheckReadOnlyGoto();")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            if entry.lacks(refuses_readonly):
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name} changes state but does not refuse a read-only "
                                  "connection with virCheckReadOnlyGoto()")
