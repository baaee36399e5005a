from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext

SOB_RE = re.compile(r"^Signed-off-by:\s*(.+?)\s*<([^>]+)>\s*$", re.M | re.I)


@rule
class SignedOffBy:
    """Every patch carries the author's Signed-off-by (the Developer Certificate of Origin)."""

    id = "generic.signed-off-by"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = ""
    source = "libvirt's contributor guidelines: patches must be signed off (DCO 1.1)"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        emails = {m.group(2).strip().lower() for m in SOB_RE.finditer(ctx.patch.message)}
        if ctx.patch.author_email.lower() not in emails:
            what = "no Signed-off-by" if not emails else f"no Signed-off-by from the author {ctx.patch.author_email}"
            yield ctx.finding(self, "", 0, f"{what} in the commit message")
