"""Pure, compiler-free parsing of the C and C-like files the libvirt rules judge, robust to
libvirt's formatting: multi-line prototypes, aligned columns, G_GNUC_* attributes, comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING_RE = re.compile(r'"(?:\\.|[^"\\\n])*"')
_ATTR_RE = re.compile(r"\bG_GNUC_\w+(\s*\([^()]*\))?|\bG_NO_INLINE\b|\bVIR_EXPORT_VAR\b|\bATTRIBUTE_\w+(\s*\([^()]*\))?")
_PROTO_NAME_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_NOT_PROTO_START = ("typedef", "struct", "enum", "union", "#", "return", "static inline")


def blank_comments(text: str) -> str:
    """Comments and string literals replaced by spaces, keeping every newline (so line numbers hold)."""
    def keep_lines(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    text = _COMMENT_RE.sub(keep_lines, text)
    return _STRING_RE.sub(lambda m: '"' + " " * (len(m.group(0)) - 2) + '"', text)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class Prototype:
    name: str
    line: int
    text: str


def prototypes(text: str) -> list[Prototype]:
    """Function declarations at file scope (`int virFoo(virFooPtr foo, ...);`), not typedefs,
    not function-pointer members, not macros."""
    clean = blank_comments(text)
    found: list[Prototype] = []
    depth = 0
    start = 0
    i = 0
    n = len(clean)
    while i < n:
        c = clean[i]
        if c == "#" and (i == 0 or clean[i - 1] == "\n"):
            # skip preprocessor lines, with continuations
            while i < n and not (clean[i] == "\n" and clean[i - 1] != "\\"):
                i += 1
            start = i + 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                start = i + 1
        elif c == ";" and depth == 0:
            statement = clean[start:i]
            proto = _prototype_in(statement, start, clean)
            if proto:
                found.append(proto)
            start = i + 1
        i += 1
    return found


def _prototype_in(statement: str, offset: int, clean: str) -> Prototype | None:
    stripped = statement.strip()
    if not stripped or stripped.startswith(_NOT_PROTO_START) or "(*" in stripped.replace(" ", "") or "=" in stripped:
        return None
    without_attrs = _ATTR_RE.sub(" ", stripped)
    m = _PROTO_NAME_RE.search(without_attrs)
    if not m or not without_attrs[: m.start()].strip():
        return None  # no return type before the name: a macro call, not a declaration
    name = m.group(1)
    pos = statement.find(name)
    return Prototype(name, line_of(clean, offset + max(pos, 0)), " ".join(stripped.split()))


@dataclass
class SymsSection:
    name: str
    parent: str | None
    line: int
    end_line: int
    symbols: dict[str, int] = field(default_factory=dict)  # symbol -> line


_SECTION_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*\{", re.M)
_SECTION_END_RE = re.compile(r"\}\s*([A-Za-z_][\w.]*)?\s*;")
_SYMBOL_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*;", re.M)


def syms_sections(text: str) -> list[SymsSection]:
    """libvirt_public.syms: `LIBVIRT_1.0.0 { global: virFoo; ... } LIBVIRT_0.10.0;` sections in order."""
    clean = re.sub(r"#[^\n]*", lambda m: " " * len(m.group(0)), text)
    sections: list[SymsSection] = []
    pos = 0
    while True:
        m = _SECTION_RE.search(clean, pos)
        if not m:
            break
        end = _SECTION_END_RE.search(clean, m.end())
        if not end:
            break
        body_start = m.end()
        section = SymsSection(m.group(1), end.group(1), line_of(clean, m.start(1)), line_of(clean, end.start()))
        body = clean[body_start : end.start()]
        for sm in _SYMBOL_RE.finditer(body):
            symbol = sm.group(1)
            if symbol in ("global", "local"):
                continue
            section.symbols[symbol] = line_of(clean, body_start + sm.start(1))
        sections.append(section)
        pos = end.end()
    return sections


def exported_symbols(text: str) -> dict[str, int]:
    symbols: dict[str, int] = {}
    for section in syms_sections(text):
        symbols.update(section.symbols)
    return symbols


@dataclass(frozen=True)
class FunctionDef:
    name: str
    line: int  # line of the name
    body_start: int  # line of the opening brace
    end_line: int  # line of the closing brace
    body: str  # comments blanked
    raw_body: str  # as written
    doc: str  # the comment block just before the definition, if any


_DEF_NAME_RE = re.compile(r"^([A-Za-z_]\w*)\s*\(", re.M)


def function_defs(text: str) -> dict[str, FunctionDef]:
    """Function definitions in libvirt's layout: return type on its own line, the name at column 0,
    the opening and closing braces at column 0."""
    clean = blank_comments(text)
    lines = clean.split("\n")
    raw_lines = text.split("\n")
    defs: dict[str, FunctionDef] = {}
    i = 0
    while i < len(lines):
        m = _DEF_NAME_RE.match(lines[i])
        if not m or m.group(1) in ("if", "for", "while", "switch", "return", "sizeof"):
            i += 1
            continue
        # find the opening brace at column 0 within the next lines (multi-line parameter lists)
        j = i
        while j < len(lines) and j - i < 40 and not lines[j].startswith("{") and ";" not in lines[j]:
            j += 1
        if j >= len(lines) or not lines[j].startswith("{"):
            i += 1
            continue
        k = j + 1
        while k < len(lines) and not lines[k].startswith("}"):
            k += 1
        name = m.group(1)
        doc = _doc_before(raw_lines, i)
        defs[name] = FunctionDef(name, i + 1, j + 1, k + 1, "\n".join(lines[j : k + 1]),
                                 "\n".join(raw_lines[j : k + 1]), doc)
        i = k + 1
    return defs


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
