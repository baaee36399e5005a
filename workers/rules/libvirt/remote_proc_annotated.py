from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.libvirt_api import REMOTE_X
from workers.rules.xdrparse import Procedure, procedures, uses_annotations

_GENERATE = {"none", "client", "server", "both"}


@rule
class RemoteProcAnnotated:
    """A new remote procedure carries its @generate and @acl annotations.

    Guide: "Implementing the remote protocol is essentially a straightforward exercise which is probably
    most easily understood by referring to the existing code." In that code every procedure is preceded
    by a comment with `@generate: none|client|server|both` (read by gendispatch.pl to write the client
    and server stubs) and at least one `@acl: <object>:<permission>` (the access-control check).
    """

    id = "libvirt.remote-proc-annotated"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = ("Implementing the remote protocol is essentially a straightforward exercise which is probably "
             "most easily understood by referring to the existing code.")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        diff = ctx.file(REMOTE_X)
        if diff is None or not diff.added:
            return
        text = ctx.read(REMOTE_X)
        if text is None or not uses_annotations(text):
            return  # the old format (trailing /* autogen autogen */ comments) has no such annotations
        before = {p.name for p in ctx.parsed("procs", diff.old_path, procedures, before=True) or []}
        now: list[Procedure] = ctx.parsed("procs", REMOTE_X, procedures) or []
        for proc in now:
            if proc.name in before:
                continue
            missing = [f"@{key}" for key in ("generate", "acl") if not proc.annotations.get(key)]
            generate = (proc.annotations.get("generate") or [""])[0]
            if missing:
                yield ctx.finding(self, REMOTE_X, proc.line, f"{proc.name} has no {' and no '.join(missing)} "
                                                             "annotation in the comment above it")
            elif generate not in _GENERATE:
                yield ctx.finding(self, REMOTE_X, proc.line, f"{proc.name} has '@generate: {generate}'; "
                                                             "expected one of none, client, server, both")
