from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.libvirt_api import REMOTE_X
from workers.rules.xdrparse import Procedure, procedures


@rule
class RemoteProcAppended:
    """New remote procedures are appended to the remote_procedure enum with the next number.

    Guide, "define the wire protocol format": "add values to the remote_procedure enum for each new
    function added to the API". Procedure numbers are the wire ABI between old and new libvirt: an
    existing one is never renumbered, removed or reused, and a new one takes the next free number at
    the end of the enum. Appending changes the previous last line (it gains a comma): that is no
    renumbering, and the enum is compared by meaning, not by lines.
    """

    id = "libvirt.remote-proc-appended"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "add values to the remote_procedure enum for each new function added to the API"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        diff = ctx.file(REMOTE_X)
        if diff is None or diff.is_removed:
            return
        now: list[Procedure] = ctx.parsed("procs", REMOTE_X, procedures) or []
        before: list[Procedure] = ctx.parsed("procs", diff.old_path, procedures, before=True) or []
        old = {p.name: p.number for p in before}
        now_by_name = {p.name: p for p in now}
        for name, number in old.items():
            current = now_by_name.get(name)
            if current is None:
                at = next((diff.removed_at[n] for n, text in diff.removed if name in text), 1)
                yield ctx.finding(self, REMOTE_X, at, f"removes {name} = {number}: procedure numbers are "
                                                      "never removed or reused")
            elif current.number != number:
                yield ctx.finding(self, REMOTE_X, current.line, f"renumbers {name} from {number} to "
                                                                f"{current.number}")
        last_old = max((i for i, p in enumerate(now) if p.name in old), default=-1)
        expected = max(old.values(), default=0) + 1
        for i, proc in enumerate(now):
            if proc.name in old:
                continue
            if i < last_old:
                yield ctx.finding(self, REMOTE_X, proc.line, f"{proc.name} is inserted before existing "
                                                             "procedures: append it at the end of the enum")
            elif proc.number != expected:
                reused = " (a number already used)" if proc.number in old.values() else ""
                yield ctx.finding(self, REMOTE_X, proc.line, f"{proc.name} = {proc.number}{reused}: the next "
                                                             f"procedure number is {expected}")
            expected = max(expected, proc.number) + 1
