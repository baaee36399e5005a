from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import driver_calls, fnptr_typedefs
from workers.rules.libvirt_api import DRIVER_HEADERS, driver_members, entries


@rule
class DriverCallbackDeclared:
    """A driver callback that a public API calls is declared: typedef and member of the driver struct.

    Guide, "define the internal driver API": "first typedef the driver function prototype and then add
    a new field for it to the relevant driver struct" in src/driver-$MODULE.h (virDrvDomainReset and
    `virDrvDomainReset domainReset;` in struct _virHypervisorDriver).
    """

    id = "libvirt.driver-callback-declared"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "first typedef the driver function prototype and then add a new field for it to the relevant driver struct"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        found = entries(ctx)
        if not found:
            return
        members = driver_members(ctx)
        if not members:
            return  # a tree without driver headers: nothing to compare with
        typedefs: set[str] = set()
        for path in {m[0] for m in members.values()} | set(DRIVER_HEADERS):
            typedefs |= set(ctx.parsed("fnptr-typedefs", path, fnptr_typedefs) or {})
        for entry in found:
            known = {(c.table, c.member) for c in driver_calls(entry.before.body)} if entry.before else set()
            for call in driver_calls(entry.fn.body):
                if (call.table, call.member) in known:
                    continue  # called before the patch too: not this patch's doing
                line = entry.fn.line_at(call.offset)
                if call.member not in members:
                    yield ctx.finding(self, entry.path, line,
                                      f"{entry.name} calls {call.table}->{call.member}(), which no driver struct "
                                      "in src/driver-*.h declares")
                elif members[call.member][1] not in typedefs:
                    path, mtype, _ = members[call.member]
                    yield ctx.finding(self, entry.path, line,
                                      f"{call.member} is declared in {path} with type {mtype}, which is not a "
                                      "typedef'd driver function prototype")
