"""Pure parsing of libvirt's wire protocol: src/remote/remote_protocol.x (the XDR source, with the
`/** @generate: ... @acl: ... */` annotation before each procedure) and src/remote_protocol-structs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workers.rules.cparse import blank_comments, line_finder


@dataclass(frozen=True)
class Procedure:
    name: str  # REMOTE_PROC_DOMAIN_RESET
    number: int
    line: int
    annotations: dict[str, list[str]] = field(default_factory=dict)  # "generate" -> ["both"], "acl" -> [...]

    @property
    def stem(self) -> str:
        """REMOTE_PROC_DOMAIN_RESET -> domain_reset (the struct-name stem)."""
        return self.name.split("_PROC_", 1)[-1].lower()

    @property
    def key(self) -> str:
        """A spelling-free key to match a procedure with an API or a driver member: domainreset."""
        return self.stem.replace("_", "")


_ENUM_START_RE = re.compile(r"\benum\s+(\w+_procedure)\s*\{")
_ENTRY_RE = re.compile(r"^[ \t]*([A-Z][A-Z0-9_]*_PROC_\w+)\s*=\s*(\d+)", re.M)
_ANNOTATION_RE = re.compile(r"@(\w+)\s*:\s*([^\n*]*)")
_OWN_COMMENT_RE = re.compile(r"/\*.*?\*/\s*", re.S)
_STRUCT_RE = re.compile(r"^\s*struct\s+(\w+)\s*\{", re.M)


def procedures(text: str) -> list[Procedure]:
    """The entries of the `enum remote_procedure` (or lxc_/qemu_procedure), in file order."""
    clean = blank_comments(text)
    start = _ENUM_START_RE.search(clean)
    if not start:
        return []
    end = clean.find("}", start.end())
    end = len(clean) if end < 0 else end
    at_line = line_finder(clean)
    found: list[Procedure] = []
    previous_end = start.end()
    for m in _ENTRY_RE.finditer(clean, start.end(), end):
        comment = text[previous_end : m.start()]  # the raw text since the previous entry
        block = comment[comment.rfind("/*") :] if "/*" in comment else ""
        if not _OWN_COMMENT_RE.fullmatch(block):
            block = ""  # not directly above this entry: it belongs to something else
        notes: dict[str, list[str]] = {}
        for am in _ANNOTATION_RE.finditer(block):
            notes.setdefault(am.group(1), []).append(am.group(2).strip())
        found.append(Procedure(m.group(1), int(m.group(2)), at_line(m.start(1)), notes))
        previous_end = m.end()
    return found


def uses_annotations(text: str) -> bool:
    """True for the modern format (`@generate:` comments); the old one used trailing `/* autogen */`."""
    return "@generate" in text


def structs(text: str) -> dict[str, int]:
    """`struct remote_domain_reset_args {` -> {"remote_domain_reset_args": line}; works for the .x and
    for remote_protocol-structs alike."""
    clean = blank_comments(text)
    at_line = line_finder(clean)
    return {m.group(1): at_line(m.start(1)) for m in _STRUCT_RE.finditer(clean)}
