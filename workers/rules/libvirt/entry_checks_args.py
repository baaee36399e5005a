from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef, Param
from workers.rules.docparse import api_doc
from workers.rules.libvirt_api import entries, handle_param

_MAY_BE_NULL_RE = re.compile(r"\bNULL\b|\boptional\b", re.I)


def may_be_null(fn: FunctionDef, name: str, docs: dict[str, str]) -> bool:
    """The doc comment allows NULL: in the parameter's line ("or NULL", "optional"), or in a sentence
    of the description that names it ("if @base is NULL", "calling with @params as NULL")."""
    if _MAY_BE_NULL_RE.search(docs.get(name, "")):
        return True
    return re.search(rf"@{re.escape(name)}\b[^.]*\bNULL\b|\bNULL\b[^.]*@{re.escape(name)}\b", fn.doc) is not None


def judged_pointers(fn: FunctionDef) -> list[Param]:
    """Pointer parameters the caller must pass: not the object (libvirt.entry-checks-object judges it),
    not opaque data or callbacks, not those the doc comment says may be NULL, not an array that comes
    with its length (`files` with `nfiles`: empty is valid)."""
    _, docs, _ = api_doc(fn.doc)
    handle = handle_param(fn)
    names = {p.name for p in fn.params}
    return [p for p in fn.params
            if p.is_pointer and p.name != handle and not p.type.startswith(("void", "const void"))
            and "Callback" not in p.type and "(*)" not in p.type and not may_be_null(fn, p.name, docs)
            and not names & {f"n{p.name}", f"max{p.name}", f"{p.name}len", f"n{p.name.rstrip('s')}"}]


def unchecked(fn: FunctionDef) -> list[str]:
    out = []
    for p in judged_pointers(fn):
        name = re.escape(p.name)
        tested = (rf"\bvirCheck\w*\([^;]*\b{name}\b|\b{name}\s*[!=]=\s*NULL"
                  rf"|(\bif\s*\(|&&|\|\|)\s*!?\s*{name}\s*(\)|&&|\|\|)")  # if (!name), if (name && ...)
        if not re.search(tested, fn.body):
            out.append(p.name)
    return out


@rule
class EntryChecksArgs:
    """A public API entry point validates its pointer arguments with virCheckNonNull*() helpers.

    Guide, "implement the public API": it "SHOULD do basic validation of the parameters that are being
    passed in, using helpers like virCheckNonNullArgGoto();". A pointer parameter whose doc comment says
    it may be NULL (or is optional) is left alone, and any virCheck*() helper or NULL test counts.
    """

    id = "libvirt.entry-checks-args"
    severity = Severity.WARNING
    scope = Scope.PATCH
    guide = ("SHOULD do basic validation of the parameters that are being passed in, using helpers like "
             "virCheckNonNullArgGoto();")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for entry in entries(ctx):
            missing = unchecked(entry.fn)
            if missing and entry.lacks(lambda fn: not unchecked(fn)):
                yield ctx.finding(self, entry.path, entry.fn.line,
                                  f"public API {entry.name} does not validate {', '.join(missing)} "
                                  "(virCheckNonNullArgGoto() or a NULL test; say so in the doc comment "
                                  "if NULL is allowed)")
