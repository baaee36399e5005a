from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef, function_defs
from workers.rules.docparse import api_doc
from workers.rules.libvirt_api import entries, exported


def doc_problems(fn: FunctionDef, want_since: bool = True) -> list[str]:
    title, params, since = api_doc(fn.doc)
    if title != fn.name:
        return [f"no doc comment opening with '{fn.name}:'"]
    problems = [f"@{p.name}" for p in fn.params if p.name not in params]
    if problems:
        problems = [f"no {', '.join(problems)} in the doc comment"]
    if want_since and not since:
        problems.append("no 'Since:' version in the doc comment")
    return problems


def file_uses_since(ctx: RuleContext, path: str) -> bool:
    """Whether the file's existing entry points carry `Since:` tags (most of them, before this
    patch): libvirt only added them in 8.x, so a series of an older tree must not be asked for one."""
    key = ("uses-since", path)
    if key not in ctx.cache:
        before = ctx.parsed("defs", path, function_defs, before=True) or {}
        symbols = exported(ctx)
        docs = [api_doc(fn.doc)[2] for name, fn in before.items() if name in symbols and fn.doc]
        ctx.cache[key] = bool(docs) and sum(docs) * 2 >= len(docs)
    return bool(ctx.cache[key])


@rule
class EntryDocComment:
    """A public API entry point has its doc comment: every parameter, and Since: where the file uses it.

    Guide: "implement the public API"; libvirt's API reference and the language bindings are generated
    from the comment above each entry point in src/libvirt-*.c (scripts/apibuild.py), which must name
    the function, describe every @parameter and, in a file whose entry points carry one (libvirt 8.x
    on), say from which version it exists ("Since: 1.1.0").
    """

    id = "libvirt.entry-doc-comment"
    severity = Severity.WARNING
    scope = Scope.PATCH
    guide = "implement the public API"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            since = file_uses_since(ctx, entry.path)
            problems = doc_problems(entry.fn, since)
            if problems and entry.lacks(lambda fn, s=since: not doc_problems(fn, s), wrappers_too=True):
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name}: {'; '.join(problems)}")
