from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import calls, exported_symbols, function_defs

PUBLIC_IMPL_RE = re.compile(r"^src/libvirt(-[a-z0-9-]+)?\.c$")
SYMS = "src/libvirt_public.syms"


def touched_public_entries(ctx: RuleContext, path: str) -> Iterator[tuple[str, int, str]]:
    """(name, line, body) of public API entry points that this patch adds or changes in `path`."""
    diff = ctx.file(path)
    if diff is None:
        return
    exported = ctx.parsed("syms", SYMS, exported_symbols) or {}
    defs = ctx.parsed("defs", path, function_defs) or {}
    changed = {n for n, _ in diff.added}
    for fn in defs.values():
        if fn.name not in exported:
            continue
        if any(fn.line <= n <= fn.end_line for n in changed):
            yield fn.name, fn.line, fn.body


@rule
class EntryResetsError:
    """A public API entry point calls virResetLastError()."""

    id = "libvirt.entry-resets-error"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "MUST call virResetLastError();"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for diff in ctx.files_matching(lambda p: bool(PUBLIC_IMPL_RE.match(p))):
            for name, line, body in touched_public_entries(ctx, diff.path):
                if not calls(body, "virResetLastError"):
                    yield ctx.finding(self, diff.path, line, f"public API {name} does not call virResetLastError()")
