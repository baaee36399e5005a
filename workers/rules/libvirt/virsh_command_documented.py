from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.docparse import pod_items, rst_headings, virsh_commands

_TOOL_RE = re.compile(r"^tools/(virsh[\w-]*|virt-admin)\.c$")


def manual_for(ctx: RuleContext, tool_path: str) -> tuple[str, set[str]] | None:
    """(manual path, commands it documents) for a tool source: virsh.rst, else the older virsh.pod."""
    tool = "virt-admin" if "virt-admin" in tool_path else "virsh"
    for path, parser in ((f"docs/manpages/{tool}.rst", rst_headings), (f"tools/{tool}.pod", pod_items)):
        documented = ctx.parsed("manual", path, parser)
        if documented is not None:
            return path, documented
    return None


@rule
class VirshCommandDocumented:
    """A new virsh command is documented in the virsh manual (docs/manpages/virsh.rst).

    Guide, "add virsh support": "Also remember to document virsh additions." The command and its
    manual section belong to the same patch; aliases (VSH_CMD_FLAG_ALIAS) need no section.
    """

    id = "libvirt.virsh-command-documented"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "Also remember to document virsh additions."

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for diff in ctx.files_matching(lambda p: bool(_TOOL_RE.match(p))):
            if not diff.added:
                continue
            before = {c.name for c in ctx.parsed("virsh-cmds", diff.old_path, virsh_commands, before=True) or []}
            new = [c for c in ctx.parsed("virsh-cmds", diff.path, virsh_commands) or []
                   if c.name not in before and not c.is_alias]
            manual = manual_for(ctx, diff.path) if new else None
            if manual is None:
                continue
            path, documented = manual
            for command in new:
                if command.name not in documented:
                    yield ctx.finding(self, diff.path, command.line,
                                      f"the new virsh command '{command.name}' has no section in {path}")
