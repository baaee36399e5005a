from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import designated_initializers
from workers.rules.libvirt_api import REMOTE_DRIVER, REMOTE_X, driver_members, flat, new_procedures


@rule
class RemoteDriverWired:
    """By the end of the series, a new remote procedure is wired into the remote driver's table.

    Guide, "implement the RPC client": the remote method calls go in src/remote/remote_driver.c, and
    a client stub (generated or written) is reached only through the driver table entry
    `.domainFoo = remoteDomainFoo`. Judged for procedures whose name matches a driver callback.
    """

    id = "libvirt.remote-driver-wired"
    severity = Severity.ERROR
    scope = Scope.SERIES_END
    guide = "implement the RPC client"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        added = new_procedures(ctx)
        if not added:
            return
        members = {flat(m): m for m in driver_members(ctx)}
        table = ctx.parsed("initializers", REMOTE_DRIVER, designated_initializers)
        if table is None:
            return  # no remote driver in this tree
        for proc, index in added:
            member = members.get(proc.key)
            if member is not None and member not in table:
                yield ctx.finding(self, REMOTE_X, proc.line,
                                  f"{proc.name} (added in patch {index}) is not wired into {REMOTE_DRIVER}: "
                                  f"no .{member} = remote... entry in its driver table", patch_index=index)
