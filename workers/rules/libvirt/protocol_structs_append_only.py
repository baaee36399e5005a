from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.libvirt_api import REMOTE_STRUCTS


@rule
class ProtocolStructsAppendOnly:
    """src/remote_protocol-structs only gains lines: a removed or changed line breaks the wire ABI.

    Guide, "implement the remote protocol": "This file should only have new lines added; modifications
    to existing lines probably imply a backwards-incompatible API change." The file is what pdwtags
    sees in the compiled protocol, so every removed line is a struct or procedure that changed shape.
    """

    id = "libvirt.protocol-structs-append-only"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = ("This file should only have new lines added; modifications to existing lines probably imply a "
             "backwards-incompatible API change.")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        diff = ctx.file(REMOTE_STRUCTS)
        if diff is None:
            return
        if diff.is_removed:
            yield ctx.finding(self, REMOTE_STRUCTS, 1, "removes the file that guards the wire protocol")
            return
        added = dict(diff.added)
        for old_n, text in diff.removed:
            if not text.strip():
                continue
            at = diff.removed_at.get(old_n, 1)
            replaced = added.get(at)
            what = f"changes '{text.strip()}' to '{replaced.strip()}'" if replaced else f"removes '{text.strip()}'"
            yield ctx.finding(self, REMOTE_STRUCTS, at, f"{what}: existing lines of the wire protocol never "
                                                        "change (backwards-incompatible)")
