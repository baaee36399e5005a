from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import blank_comments
from workers.rules.libvirt_api import SYMS, api_prototypes, exported, new_apis

_CALL_RE = re.compile(r"\b(vir\w+)\s*\(")


@rule
class VirshCommandForApi:
    """By the end of the series, virsh calls every new public API.

    Guide, "add virsh support": "All new API should be manageable from the virsh command line shell."
    A new API can only be called from a file the series touches, so the tools/*.c files of the series
    are searched for a call. A warning: the guide says should.
    """

    id = "libvirt.virsh-command-for-api"
    severity = Severity.WARNING
    scope = Scope.SERIES_END
    guide = "All new API should be manageable from the virsh command line shell."

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        added = new_apis(ctx)
        if not added:
            return
        called: set[str] = set()
        for path in ctx.series_paths(lambda p: p.startswith("tools/") and p.endswith(".c")):
            called |= ctx.parsed("called", path, lambda text: set(_CALL_RE.findall(blank_comments(text)))) or set()
        declared = api_prototypes(ctx)
        for name, index in sorted(added.items(), key=lambda kv: kv[1]):
            if name in called:
                continue
            path, line = (declared[name][0], declared[name][1].line) if name in declared else (SYMS, exported(ctx)[name])
            yield ctx.finding(self, path, line, f"the new API {name} (added in patch {index}) is not called by "
                                                "any virsh command", patch_index=index)
