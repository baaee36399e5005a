from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import exported_symbols, prototypes

PUBLIC_HEADER_RE = re.compile(r"^include/libvirt/libvirt(-[a-z0-9-]+)?\.h(\.in)?$")
SYMS = "src/libvirt_public.syms"


@rule
class PublicSymbolExported:
    """A function newly declared in a public header is exported in libvirt_public.syms."""

    id = "libvirt.public-symbol-exported"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = ("arrange to export the function name (symbol) so other programs can link against the "
             "libvirt library and call the new function")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        headers = list(ctx.files_matching(lambda p: bool(PUBLIC_HEADER_RE.match(p))))
        if not headers:
            return
        exported = ctx.parsed("syms", SYMS, exported_symbols) or {}
        for header in headers:
            before = {p.name for p in (ctx.parsed("protos", header.path, prototypes, before=True) or [])}
            added_lines = {n for n, _ in header.added}
            for proto in ctx.parsed("protos", header.path, prototypes) or []:
                if proto.name in before or proto.line not in added_lines:
                    continue
                if proto.name not in exported:
                    yield ctx.finding(self, header.path, proto.line,
                                      f"{proto.name} is declared in a public header but not exported in {SYMS}")
