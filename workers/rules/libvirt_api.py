"""What the libvirt rules know about a libvirt tree: where things live, which functions are public
entry points, which APIs, driver callbacks and procedures a series adds. Everything is read through
the RuleContext and cached in it, so twenty rules asking the same question parse the files once."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from workers.rules.context import RuleContext
from workers.rules.cparse import FunctionDef, Prototype, function_defs, prototypes, struct_members
from workers.rules.symsparse import exported_symbols
from workers.rules.xdrparse import Procedure, procedures

SYMS = "src/libvirt_public.syms"
REMOTE_X = "src/remote/remote_protocol.x"
REMOTE_STRUCTS = "src/remote_protocol-structs"
REMOTE_DRIVER = "src/remote/remote_driver.c"
TEST_DRIVER = "src/test/test_driver.c"
PUBLIC_HEADER_RE = re.compile(r"^include/libvirt/libvirt(-[a-z0-9-]+)?\.h(\.in)?$")
PUBLIC_IMPL_RE = re.compile(r"^src/libvirt(-[a-z0-9-]+)?\.c$")
DRIVER_HEADER_RE = re.compile(r"^src/driver(-[a-z0-9-]+)?\.h$")
PUBLIC_HEADERS = tuple(f"include/libvirt/libvirt-{m}.h" for m in (
    "domain", "host", "network", "storage", "nodedev", "interface", "secret", "nwfilter", "stream",
    "event", "domain-snapshot", "domain-checkpoint", "qemu", "lxc", "admin"))
DRIVER_HEADERS = tuple(f"src/driver-{m}.h" for m in (
    "hypervisor", "network", "storage", "nodedev", "interface", "secret", "nwfilter", "stream", "state"))
HANDLE_RE = re.compile(r"^(?:const\s+)?vir(Connect|Domain|DomainSnapshot|DomainCheckpoint|Network|NetworkPort|"
                       r"Interface|StoragePool|StorageVol|NodeDevice|Secret|NWFilter|NWFilterBinding|Stream)Ptr$")
DEBUG_RE = re.compile(r"\bVIR_\w*DEBUG\w*\s*\(")


@dataclass(frozen=True)
class Entry:
    """A public API entry point that this patch adds or changes."""

    name: str
    path: str
    fn: FunctionDef
    before: FunctionDef | None  # None when the patch adds it
    wrapper: bool = False  # its body only returns another public API's result

    def lacks(self, holds: Callable[[FunctionDef], bool], wrappers_too: bool = False) -> bool:
        """True when the entry point does not have a property: a new one must, and a changed one is only
        blamed when it had the property before the patch (the patch took it away). A trivial wrapper
        around another public API (the guide's way to keep an older API) inherits its checks."""
        if self.wrapper and not wrappers_too:
            return False
        return not holds(self.fn) and (self.before is None or holds(self.before))


def exported(ctx: RuleContext, base: bool = False) -> dict[str, int]:
    return ctx.parsed("syms", SYMS, exported_symbols, base=base) or {}


def entries(ctx: RuleContext) -> list[Entry]:
    """Exported functions of src/libvirt*.c whose definition this patch adds or changes."""
    if "entries" in ctx.cache:
        return ctx.cache["entries"]  # type: ignore[no-any-return]
    found: list[Entry] = []
    impls = [d for d in ctx.files if PUBLIC_IMPL_RE.match(d.path) and not d.is_removed and (d.added or d.removed)]
    symbols = exported(ctx) if impls else {}
    for diff in impls:
        changed = sorted(diff.added_numbers() | set(diff.removed_at.values()))  # a removal counts as a change
        now = ctx.parsed("defs", diff.path, function_defs) or {}
        before = None
        for fn in now.values():
            if fn.name in symbols and touches(changed, fn.line, fn.end_line):
                if before is None:
                    before = ctx.parsed("defs", diff.old_path, function_defs, before=True) or {}
                found.append(Entry(fn.name, diff.path, fn, before.get(fn.name), is_wrapper(fn, symbols)))
    ctx.cache["entries"] = found
    return found


def is_wrapper(fn: FunctionDef, symbols: dict[str, int]) -> bool:
    """`{ return virDomainCreateXML(conn, xmlDesc, flags); }`: the body only returns a public API's result."""
    m = re.fullmatch(r"\{\s*return\s+(\w+)\s*\([^;]*\)\s*;\s*\}", fn.body.strip())
    return m is not None and m.group(1) in symbols and m.group(1) != fn.name


def touches(sorted_lines: list[int], first: int, last: int) -> bool:
    i = bisect.bisect_left(sorted_lines, first)
    return i < len(sorted_lines) and sorted_lines[i] <= last


def handle_param(fn: FunctionDef) -> str | None:
    """The name of the object the API acts on (its first parameter, a virConnectPtr/virDomainPtr/...)."""
    if fn.params and HANDLE_RE.match(fn.params[0].type):
        return fn.params[0].name
    return None


_READ_WORDS = {"Get", "List", "Lookup", "Is", "Has", "Num", "Ref", "Free", "Compare", "Baseline", "Find"}
_WRITE_WORDS = {
    "Set", "Create", "Define", "Undefine", "Destroy", "Delete", "Shutdown", "Reboot", "Reset", "Suspend",
    "Resume", "Inject", "Send", "Attach", "Detach", "Update", "Migrate", "Pin", "Add", "Del", "Remove", "Save",
    "Restore", "Revert", "Abort", "Start", "Stop", "Rename", "Wakeup", "Dump", "Upload", "Download", "Wipe",
    "Resize", "Build", "Commit", "Copy", "Pull", "Rebase", "Freeze", "Thaw", "Trim", "Alloc", "Kill",
    "Authorize", "Reattach"}
_OBJECTS = sorted(("Connect", "Domain", "DomainSnapshot", "DomainCheckpoint", "Network", "NetworkPort", "Interface",
                   "StoragePool", "StorageVol", "NodeDevice", "Secret", "NWFilter", "NWFilterBinding", "Node"),
                  key=len, reverse=True)


def name_words(api: str) -> list[str]:
    """virDomainSetUserPassword -> ["Set", "User", "Password"] (the object prefix dropped)."""
    rest = api[3:] if api.startswith("vir") else api
    for obj in _OBJECTS:
        if rest.startswith(obj) and rest[len(obj) : len(obj) + 1].isupper():
            rest = rest[len(obj) :]
            break
    return re.findall(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|\d+", rest)


def changes_state(fn: FunctionDef) -> bool:
    """An API that clearly changes state: a write verb in its name, no read verb, acting on an object
    through a connection (streams and keepalive tuning excepted: read-only connections may use them)."""
    words = set(name_words(fn.name))
    if not handle_param(fn) or fn.name.startswith("virStream") or "Keep" in words:
        return False
    return not (words & _READ_WORDS) and bool(words & _WRITE_WORDS)


def line_in(fn: FunctionDef, pattern: re.Pattern[str]) -> int:
    """The file line of the first match in the body, else the function's name line."""
    m = pattern.search(fn.body)
    return fn.line_at(m.start()) if m else fn.line


def new_apis(ctx: RuleContext) -> dict[str, int]:
    """Symbols the series exports that its base did not: {name: patch that added it}."""
    now, base = exported(ctx), exported(ctx, base=True)
    return {name: ctx.introduced_by(SYMS, name)
            for name in now if name not in base}


def api_prototypes(ctx: RuleContext) -> dict[str, tuple[str, Prototype]]:
    """Every function declared in the public headers at this commit: {name: (header, prototype)}."""
    key = "api-prototypes"
    if key not in ctx.cache:
        headers = list(dict.fromkeys([*ctx.series_paths(lambda p: bool(PUBLIC_HEADER_RE.match(p))),
                                      *PUBLIC_HEADERS]))
        found: dict[str, tuple[str, Prototype]] = {}
        for path in headers:
            for proto in ctx.parsed("protos", path, prototypes) or []:
                found.setdefault(proto.name, (path, proto))
        ctx.cache[key] = found
    return ctx.cache[key]  # type: ignore[no-any-return]


def driver_members(ctx: RuleContext, base: bool = False) -> dict[str, tuple[str, str, int]]:
    """Members of the driver structs (`struct _virHypervisorDriver {...}`): {member: (header, type, line)}."""
    key = ("driver-members", base)
    if key not in ctx.cache:
        headers = list(dict.fromkeys([*ctx.series_paths(lambda p: bool(DRIVER_HEADER_RE.match(p))),
                                      *DRIVER_HEADERS]))
        found: dict[str, tuple[str, str, int]] = {}
        for path in headers:
            for struct, members in (ctx.parsed("structs", path, struct_members, base=base) or {}).items():
                if re.fullmatch(r"_vir\w*Driver", struct):
                    for member, (mtype, line) in members.items():
                        found.setdefault(member, (path, mtype, line))
        ctx.cache[key] = found
    return ctx.cache[key]  # type: ignore[no-any-return]


def new_procedures(ctx: RuleContext) -> list[tuple[Procedure, int]]:
    """Procedures of remote_protocol.x that the series adds: (procedure now, patch that added it)."""
    base = {p.name for p in ctx.parsed("procs", REMOTE_X, procedures, base=True) or []}
    return [(p, ctx.introduced_by(REMOTE_X, p.name))
            for p in ctx.parsed("procs", REMOTE_X, procedures) or [] if p.name not in base]


def flat(name: str) -> str:
    """A key to match names across spellings: virDomainInjectNMI, domainInjectNMI, DOMAIN_INJECT_NMI."""
    name = name[3:] if name.startswith("vir") and name[3:4].isupper() else name
    return name.replace("_", "").lower()
