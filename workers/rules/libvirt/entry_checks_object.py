from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef
from workers.rules.libvirt_api import entries, handle_param


def checks_handle(fn: FunctionDef) -> bool:
    handle = handle_param(fn)
    return handle is None or re.search(rf"\bvirCheck\w+(Return|Goto)\s*\(\s*{re.escape(handle)}\b", fn.body) is not None


@rule
class EntryChecksObject:
    """A public API entry point validates its connection or object with virCheck*Return/Goto().

    Guide, "implement the public API": it "SHOULD confirm that the connection is valid with
    virCheckConnectReturn() or virCheckConnectGoto();" and, for an API on a domain, network, ... the
    matching virCheckDomainReturn() and kin. Judged when the first parameter is such an object.
    """

    id = "libvirt.entry-checks-object"
    severity = Severity.WARNING
    scope = Scope.PATCH
    guide = "SHOULD confirm that the connection is valid with virCheckConnectReturn() or virCheckConnectGoto();"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            if entry.lacks(checks_handle):
                handle = handle_param(entry.fn)
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name} does not validate {handle} with a "
                                  "virCheck*Return()/virCheck*Goto() helper")
