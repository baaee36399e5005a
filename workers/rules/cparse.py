"""Pure, compiler-free parsing of the C files the libvirt rules judge, robust to libvirt's formatting:
multi-line prototypes, aligned columns, G_GNUC_* attributes, VIR_EXPORT_VAR, `extern "C"` blocks,
comments and string literals that look like code. Line numbers always refer to the text as given."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

_ATTR_RE = re.compile(r"\bG_GNUC_\w+(\s*\([^()]*\))?|\bG_NO_INLINE\b|\bVIR_EXPORT_VAR\b|\bVIR_DEPRECATED\b"
                      r"|\bATTRIBUTE_\w+(\s*\([^()]*\))?|\b__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)")
_PROTO_NAME_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_NOT_PROTO_START = ("typedef", "struct", "enum", "union", "return", "static inline", "extern \"")
_EXTERN_C_RE = re.compile(r'extern\s+"\s*"\s*\{')
_PUNCT_RE = re.compile(r"[#{};]")
_PP_END_RE = re.compile(r"(?<!\\)\n")


def blank_comments(text: str) -> str:
    """Comments and string literals replaced by spaces, keeping every newline (so line numbers hold)."""
    def keep_lines(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    def blank(m: re.Match[str]) -> str:
        return keep_lines(m) if m.group(0).startswith("/") else '"' + " " * (len(m.group(0)) - 2) + '"'

    # one pass, so that a quote inside a comment or a comment marker inside a string fools neither
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', blank, text, flags=re.S)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def line_finder(text: str) -> Callable[[int], int]:
    """offset -> 1-based line, in O(log n) per call (line_of is O(n))."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    return lambda offset: bisect.bisect_left(newlines, offset) + 1


@dataclass(frozen=True)
class Prototype:
    name: str
    line: int
    text: str


def prototypes(text: str) -> list[Prototype]:
    """Function declarations at file scope (`int virFoo(virFooPtr foo, ...);`), not typedefs,
    not function-pointer variables, not macros, not variables (VIR_EXPORT_VAR)."""
    clean = _EXTERN_C_RE.sub(lambda m: " " * len(m.group(0)), blank_comments(text))
    found: list[Prototype] = []
    at_line = line_finder(clean)
    depth = 0
    start = 0
    skip_to = -1
    for m in _PUNCT_RE.finditer(clean):
        i = m.start()
        if i < skip_to:
            continue
        c = clean[i]
        if c == "#":
            if clean[clean.rfind("\n", 0, i) + 1 : i].strip():
                continue
            end = _PP_END_RE.search(clean, i)  # a preprocessor line, with its continuations
            skip_to = end.end() if end else len(clean)
            start = skip_to
        elif c == "{":
            depth += 1
        elif c == "}":
            depth = max(depth - 1, 0)
            if depth == 0:
                start = i + 1
        elif depth == 0:
            proto = _prototype_in(clean[start:i], start, at_line)
            if proto:
                found.append(proto)
            start = i + 1
    return found


def _prototype_in(statement: str, offset: int, at_line: Callable[[int], int]) -> Prototype | None:
    stripped = statement.strip()
    if not stripped or stripped.startswith(_NOT_PROTO_START) or "=" in stripped:
        return None
    without_attrs = _ATTR_RE.sub(" ", stripped)
    m = _PROTO_NAME_RE.search(without_attrs)
    if not m or not without_attrs[: m.start()].strip():
        return None  # no return type before the name: a macro call, not a declaration
    if without_attrs[m.end():].lstrip().startswith("*"):
        return None  # `int (*cb)(...)`: a function-pointer variable
    name = m.group(1)
    pos = re.search(rf"\b{re.escape(name)}\b", statement)
    return Prototype(name, at_line(offset + (pos.start() if pos else 0)), " ".join(stripped.split()))


@dataclass(frozen=True)
class Param:
    type: str  # "const char *", "virDomainPtr", "unsigned int"
    name: str

    @property
    def is_pointer(self) -> bool:
        return "*" in self.type or self.type.endswith("Ptr")


def parse_params(text: str) -> tuple[Param, ...]:
    """`virDomainPtr dom, const char *name` (comments already blanked) -> parameters; `void` -> ()."""
    params: list[Param] = []
    depth, current = 0, ""
    for c in text + ",":
        if c == "," and depth == 0:
            piece = " ".join(_ATTR_RE.sub(" ", current).split())
            current = ""
            if not piece or piece in ("void", "..."):
                continue
            m = re.match(r"^(.*?)\(\s*\*\s*(\w+)\s*\)\s*\(.*\)$", piece)  # int (*cb)(int)
            if m:
                params.append(Param(m.group(1).strip() + " (*)()", m.group(2)))
                continue
            m = re.match(r"^(.*?)(\w+)\s*(\[[^\]]*\])?$", piece)
            if m:
                ptype = m.group(1).strip() + (" *" if m.group(3) else "")
                params.append(Param(" ".join(ptype.replace("*", " * ").split()).replace("* *", "**"),
                                    m.group(2)))
            continue
        depth += c in "(["
        depth -= c in ")]"
        current += c
    return tuple(params)


@dataclass(frozen=True)
class FunctionDef:
    name: str
    line: int  # line of the name
    body_start: int  # line of the opening brace
    end_line: int  # line of the closing brace
    body: str  # comments and strings blanked
    raw_body: str  # as written
    doc: str  # the comment block just before the definition, if any
    return_type: str = ""
    params: tuple[Param, ...] = ()

    def line_at(self, offset: int) -> int:
        """The file line of an offset into `body`."""
        return self.body_start + self.body.count("\n", 0, offset)


_DEF_NAME_RE = re.compile(r"^([A-Za-z_]\w*)\s*\(", re.M)
_NOT_FUNCTIONS = ("if", "for", "while", "switch", "return", "sizeof")


def function_defs(text: str) -> dict[str, FunctionDef]:
    """Function definitions in libvirt's layout: return type on its own line(s), the name at column 0,
    the opening and closing braces at column 0."""
    clean = blank_comments(text)
    lines = clean.split("\n")
    raw_lines = text.split("\n")
    defs: dict[str, FunctionDef] = {}
    i = 0
    while i < len(lines):
        m = _DEF_NAME_RE.match(lines[i])
        if not m or m.group(1) in _NOT_FUNCTIONS:
            i += 1
            continue
        j = i  # the opening brace, after a parameter list that may span lines
        while j < len(lines) and j - i < 40 and not lines[j].startswith("{") and ";" not in lines[j]:
            j += 1
        if j >= len(lines) or not lines[j].startswith("{"):
            i += 1
            continue
        k = j + 1
        while k < len(lines) and not lines[k].startswith("}"):
            k += 1
        name = m.group(1)
        params_text = _inside_parens(" ".join(lines[i:j]))
        rtype_start = i
        while rtype_start > 0 and lines[rtype_start - 1].strip() and not lines[rtype_start - 1].rstrip().endswith(
                (";", "}", "*/")) and not lines[rtype_start - 1].lstrip().startswith("#"):
            rtype_start -= 1
        return_type = " ".join(_ATTR_RE.sub(" ", " ".join(lines[rtype_start:i])).split())
        defs[name] = FunctionDef(name, i + 1, j + 1, k + 1, "\n".join(lines[j : k + 1]),
                                 "\n".join(raw_lines[j : k + 1]), _doc_before(raw_lines, i),
                                 return_type.replace("static ", "").strip(), parse_params(params_text))
        i = k + 1
    return defs


def _inside_parens(header: str) -> str:
    """The text inside the first balanced (...) of `name(params) G_GNUC_PRINTF(1, 2)`."""
    start = header.find("(")
    depth = 0
    for k in range(start, len(header)):
        depth += {"(": 1, ")": -1}.get(header[k], 0)
        if depth == 0:
            return header[start + 1 : k]
    return header[start + 1 :]


def _doc_before(raw_lines: list[str], name_index: int) -> str:
    """The /** ... */ block that ends just above the return-type line."""
    k = name_index - 1
    while k >= 0 and raw_lines[k].strip() and not raw_lines[k].rstrip().endswith("*/"):
        k -= 1  # the return type line(s)
    if k < 0 or not raw_lines[k].rstrip().endswith("*/"):
        return ""
    end = k
    while k >= 0 and not raw_lines[k].lstrip().startswith("/*"):
        k -= 1
    return "\n".join(raw_lines[max(k, 0) : end + 1])


def calls(body: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\s*\(", body) is not None


@dataclass(frozen=True)
class DriverCall:
    table: str  # the driver pointer: "driver", "networkDriver", ...
    member: str  # the callback: "domainReset"
    offset: int  # into the function body
    guarded: bool  # tested (`if (conn->driver->domainReset)`) before this call


_DRIVER_REF_RE = re.compile(r"->\s*(\w*[dD]river)\s*->\s*(\w+)(\s*\()?")


def driver_calls(body: str) -> list[DriverCall]:
    """Calls through a driver table (`conn->driver->domainReset(...)`), each with whether the same
    callback pointer was tested earlier in the body."""
    tested: set[tuple[str, str]] = set()
    found: list[DriverCall] = []
    for m in _DRIVER_REF_RE.finditer(body):
        key = (m.group(1), m.group(2))
        if m.group(3):
            found.append(DriverCall(key[0], key[1], m.start(), key in tested))
        else:
            tested.add(key)
    return found


_STRUCT_RE = re.compile(r"^struct\s+(\w+)\s*\{", re.M)
_MEMBER_RE = re.compile(r"^\s*(?:const\s+)?(\w+)\s*\**\s*(\w+)\s*;", re.M)
_FNPTR_TYPEDEF_RE = re.compile(r"\btypedef\b[^;]*?\(\s*\*\s*(\w+)\s*\)", re.S)


def struct_members(text: str) -> dict[str, dict[str, tuple[str, int]]]:
    """Members of each `struct name {` at file scope: {struct: {member: (type, line)}}."""
    clean = blank_comments(text)
    at_line = line_finder(clean)
    structs: dict[str, dict[str, tuple[str, int]]] = {}
    for m in _STRUCT_RE.finditer(clean):
        end = clean.find("\n}", m.end())
        body = clean[m.end() : end if end >= 0 else len(clean)]
        members = structs.setdefault(m.group(1), {})
        for mm in _MEMBER_RE.finditer(body):
            members[mm.group(2)] = (mm.group(1), at_line(m.end() + mm.start(2)))
    return structs


def fnptr_typedefs(text: str) -> dict[str, int]:
    """`typedef int (*virDrvDomainReset)(...)` -> {"virDrvDomainReset": line}."""
    clean = blank_comments(text)
    at_line = line_finder(clean)
    return {m.group(1): at_line(m.start(1)) for m in _FNPTR_TYPEDEF_RE.finditer(clean)}


_INIT_RE = re.compile(r"^\s*\.(\w+)\s*=\s*([^,\n]*?)\s*,?\s*$", re.M)


def designated_initializers(text: str) -> dict[str, tuple[str, int]]:
    """`.domainReset = testDomainReset, /* 1.1.0 */` lines anywhere in the file: {member: (value, line)}."""
    clean = blank_comments(text)
    at_line = line_finder(clean)
    return {m.group(1): (m.group(2), at_line(m.start(1))) for m in _INIT_RE.finditer(clean)}
