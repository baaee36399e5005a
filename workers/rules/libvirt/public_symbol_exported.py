from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import prototypes
from workers.rules.libvirt_api import PUBLIC_HEADER_RE, SYMS, exported


@rule
class PublicSymbolExported:
    """A function newly declared in a public header is exported in libvirt_public.syms.

    Guide, "define the public API": add a declaration in the public header "and arrange to export the
    function name (symbol) so other programs can link against the libvirt library and call the new
    function". Judged per patch: the declaration and the export belong to the same step.
    """

    id = "libvirt.public-symbol-exported"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = ("arrange to export the function name (symbol) so other programs can link against the "
             "libvirt library and call the new function")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        headers = [h for h in ctx.files_matching(lambda p: bool(PUBLIC_HEADER_RE.match(p))) if h.added]
        if not headers:
            return
        symbols = exported(ctx)
        for header in headers:
            before = {p.name for p in (ctx.parsed("protos", header.old_path, prototypes, before=True) or [])}
            added_lines = header.added_numbers()
            for proto in ctx.parsed("protos", header.path, prototypes) or []:
                if proto.name in before or proto.line not in added_lines:
                    continue
                if proto.name not in symbols:
                    yield ctx.finding(self, header.path, proto.line,
                                      f"{proto.name} is declared in a public header but not exported in {SYMS}")
