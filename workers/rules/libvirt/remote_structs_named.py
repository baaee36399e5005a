from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import Prototype, parse_params
from workers.rules.libvirt_api import HANDLE_RE, REMOTE_X, api_prototypes, flat
from workers.rules.xdrparse import Procedure, procedures, structs

_CALL_STRUCT_RE = re.compile(r"^remote_(\w+)_(args|ret)$")


def needs(proto: Prototype) -> tuple[bool, bool]:
    """(needs an args struct, needs a ret struct) for a public API: args when it takes an input besides
    the connection (a value, a const pointer or an object; a plain pointer may be an output only, as in
    virConnectGetLibVersion); ret when it returns data (a pointer), not only a status."""
    head, _, rest = proto.text.partition(f"{proto.name}")
    params = parse_params(rest[rest.find("(") + 1 : rest.rfind(")")])
    takes = any(not re.fullmatch(r"(const\s+)?virConnectPtr", p.type)
                and (not p.is_pointer or p.type.startswith("const") or HANDLE_RE.match(p.type)) for p in params)
    returns = "*" in head or head.strip().endswith("Ptr")
    return takes, returns


@rule
class RemoteStructsNamed:
    """A new remote procedure has args and ret structs named after it (ret only when it returns data).

    Guide, "define the wire protocol format": "create two new structs for each new function that you're
    adding to the API", remote_<proc>_args and remote_<proc>_ret; "functions that return only 0 or -1
    for status do not require a struct for returned data". A struct named like a call struct but after
    no procedure is a typo that gendispatch.pl would not pick up.
    """

    id = "libvirt.remote-structs-named"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "create two new structs for each new function that you're adding to the API"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        diff = ctx.file(REMOTE_X)
        if diff is None or not diff.added:
            return
        now_procs: list[Procedure] = ctx.parsed("procs", REMOTE_X, procedures) or []
        now_structs: dict[str, int] = ctx.parsed("xdr-structs", REMOTE_X, structs) or {}
        old_structs = ctx.parsed("xdr-structs", diff.old_path, structs, before=True) or {}
        old_procs = {p.name for p in ctx.parsed("procs", diff.old_path, procedures, before=True) or []}
        stems = {p.stem for p in now_procs}
        for name, line in now_structs.items():
            m = _CALL_STRUCT_RE.match(name)
            if m and name not in old_structs and m.group(1) not in stems:
                yield ctx.finding(self, REMOTE_X, line, f"struct {name} is named after no procedure "
                                                        f"(no REMOTE_PROC_{m.group(1).upper()})")
        new = [p for p in now_procs if p.name not in old_procs]
        if not new:
            return
        apis = {flat(name): proto for name, (_, proto) in api_prototypes(ctx).items()}
        for proc in new:
            proto = apis.get(proc.key)
            if proto is None:
                continue  # an event or a call with no public API of that name: nothing to compare
            takes, returns = needs(proto)
            for kind, wanted in (("args", takes), ("ret", returns)):
                struct = f"remote_{proc.stem}_{kind}"
                if wanted and struct not in now_structs:
                    yield ctx.finding(self, REMOTE_X, proc.line, f"{proc.name} has no struct {struct} for "
                                                                 f"{proto.name}'s {'parameters' if kind == 'args' else 'returned data'}")
