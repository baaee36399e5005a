from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef
from workers.rules.docparse import api_doc
from workers.rules.libvirt_api import entries


def doc_problems(fn: FunctionDef) -> list[str]:
    title, params, since = api_doc(fn.doc)
    if title != fn.name:
        return [f"no doc comment opening with '{fn.name}:'"]
    problems = [f"@{p.name}" for p in fn.params if p.name not in params]
    if problems:
        problems = [f"no {', '.join(problems)} in the doc comment"]
    if not since:
        problems.append("no 'Since:' version in the doc comment")
    return problems


@rule
class EntryDocComment:
    """A public API entry point has its doc comment: every parameter and a Since: version.

    Guide: "implement the public API"; libvirt's API reference and the language bindings are generated
    from the comment above each entry point in src/libvirt-*.c (scripts/apibuild.py), which must name
    the function, describe every @parameter and say from which version it exists ("Since: 1.1.0").
    """

    id = "libvirt.entry-doc-comment"
    severity = Severity.WARNING
    scope = Scope.PATCH
    guide = "implement the public API"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            problems = doc_problems(entry.fn)
            if problems and entry.lacks(lambda fn: not doc_problems(fn), wrappers_too=True):
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name}: {'; '.join(problems)}")
