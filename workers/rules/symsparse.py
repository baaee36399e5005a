"""Pure parsing of libvirt's linker version script (src/libvirt_public.syms) and of the project
version in meson.build, which together say which symbol sections are released."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workers.rules.cparse import line_of


@dataclass
class SymsSection:
    name: str
    parent: str | None
    line: int  # the `LIBVIRT_1.1.0 {` line
    end_line: int  # the `} LIBVIRT_1.0.6;` line
    symbols: dict[str, int] = field(default_factory=dict)  # symbol -> line

    def holds(self, line: int) -> bool:
        return self.line <= line <= self.end_line


_SECTION_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*\{", re.M)
_SECTION_END_RE = re.compile(r"\}\s*([A-Za-z_][\w.]*)?\s*;")
_SYMBOL_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*;", re.M)


def syms_sections(text: str) -> list[SymsSection]:
    """`LIBVIRT_1.0.0 { global: virFoo; ... } LIBVIRT_0.10.0;` sections, in file order."""
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
            if symbol not in ("global", "local"):
                section.symbols[symbol] = line_of(clean, body_start + sm.start(1))
        sections.append(section)
        pos = end.end()
    return sections


def exported_symbols(text: str) -> dict[str, int]:
    symbols: dict[str, int] = {}
    for section in syms_sections(text):
        symbols.update(section.symbols)
    return symbols


def section_version(name: str) -> tuple[int, ...] | None:
    """LIBVIRT_1.2.19 -> (1, 2, 19); sections without a version (LIBVIRT_PRIVATE_...) -> None."""
    m = re.match(r"^[A-Za-z_]+?_?(\d+(?:\.\d+)+)$", name)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


_MESON_VERSION_RE = re.compile(r"\bproject\s*\((?:[^()]|\([^()]*\))*?\bversion\s*:\s*'(\d+(?:\.\d+)+)'", re.S)


def project_version(meson_build: str) -> tuple[int, ...] | None:
    """`project('libvirt', 'c', version: '10.2.0', ...)` -> (10, 2, 0). libvirt bumps it right after
    each release, so a section for this version (or a later one) is not released yet."""
    m = _MESON_VERSION_RE.search(meson_build)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None
