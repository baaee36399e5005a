"""Pure parsing for the virsh, documentation and XML rules: virsh command tables, the virsh manual
(reStructuredText, or the older POD), XML names parsed in src/conf, and RelaxNG element/attribute names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workers.rules.cparse import line_finder


@dataclass(frozen=True)
class VirshCommand:
    name: str
    line: int  # the `{.name = "reset",` line
    is_alias: bool


_CMD_TABLE_RE = re.compile(r"\bvshCmdDef\s+\w+\s*\[\s*\]\s*=\s*\{")
_CMD_ENTRY_RE = re.compile(r'\{\s*\.name\s*=\s*"([^"]+)"(.*?)\}', re.S)


def virsh_commands(text: str) -> list[VirshCommand]:
    """Entries of every `const vshCmdDef xxxCmds[] = {...}` table (not the vshCmdOptDef option arrays)."""
    at_line = line_finder(text)
    found: list[VirshCommand] = []
    for table in _CMD_TABLE_RE.finditer(text):
        end = text.find("\n};", table.end())
        end = len(text) if end < 0 else end
        for m in _CMD_ENTRY_RE.finditer(text, table.end(), end):
            found.append(VirshCommand(m.group(1), at_line(m.start(1)), "VSH_CMD_FLAG_ALIAS" in m.group(2)))
    return found


def rst_headings(text: str) -> set[str]:
    """Section titles of a reStructuredText page (a title line underlined by - = ~ ^ characters)."""
    lines = text.split("\n")
    found: set[str] = set()
    for title, under in zip(lines, lines[1:], strict=False):
        t, u = title.strip(), under.strip()
        if t and u and len(set(u)) == 1 and u[0] in "-=~^" and len(u) >= len(t):
            found.add(t)
    return found


def pod_items(text: str) -> set[str]:
    """`=item B<reset> I<domain>` -> {"reset"} (tools/virsh.pod, before the reStructuredText manual)."""
    return set(re.findall(r"^=item\s+B<([\w-]+)>", text, re.M))


_XML_PROP_RE = re.compile(r'\bvirXMLProp\w*\(\s*[\w>.-]+\s*,\s*"([A-Za-z_][\w-]*)"')
_XML_NODE_RE = re.compile(r'\b(?:virXMLNodeNameEqual|virXMLNodeGetSubelement)\(\s*[\w>.-]+\s*,\s*"([A-Za-z_][\w-]*)"')
_XML_STREQ_RE = re.compile(r'\bxmlStrEqual\(\s*[\w>.-]+\s*,\s*BAD_CAST\s*"([A-Za-z_][\w-]*)"')
_XPATH_RE = re.compile(r'\bvirXPath\w*\(\s*"([^"]+)"')
_XPATH_FUNC_RE = re.compile(r"\b(?:string|boolean|count|number|name|normalize-space)\(")


def xml_names(line: str) -> set[str]:
    """The XML element and attribute names a line of src/conf parsing code reads."""
    names = set(_XML_PROP_RE.findall(line)) | set(_XML_NODE_RE.findall(line)) | set(_XML_STREQ_RE.findall(line))
    for xpath in _XPATH_RE.findall(line):
        names |= xpath_names(xpath)
    return names


def xpath_names(xpath: str) -> set[str]:
    """`string(./target/@dev)` -> {"target", "dev"}."""
    names: set[str] = set()
    for step in re.split(r"[/|]", _XPATH_FUNC_RE.sub("", xpath)):
        step = re.sub(r"\[[^\]]*\]", "", step).strip(" ()@")
        if re.fullmatch(r"[A-Za-z_][\w-]*", step) and step not in ("text", "node"):
            names.add(step)
    return names


_RNG_NAME_RE = re.compile(r'<(?:element|attribute)\b[^>]*?\bname\s*=\s*"([^"]+)"|<(?:element|attribute)>\s*'
                          r"<name>\s*([^<\s]+)\s*</name>")


def rng_names(text: str) -> set[str]:
    """Element and attribute names a RelaxNG schema declares."""
    return {a or b for a, b in _RNG_NAME_RE.findall(text)}


def api_doc(doc: str) -> tuple[str | None, dict[str, str], bool]:
    """A libvirt API doc comment -> (the `name:` it opens with, {parameter: its text}, has `Since:`)."""
    lines = [re.sub(r"^\s*/?\*+/?\s?", "", line).rstrip("*/ ").rstrip() for line in doc.split("\n")]
    title = next((m.group(1) for line in lines if (m := re.match(r"^(\w+):\s*$", line))), None)
    params: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        m = re.match(r"^@(\w+|\.\.\.)\s*:\s*(.*)$", line)
        if m:
            current = m.group(1)
            params[current] = m.group(2)
        elif current and line.strip():
            params[current] += " " + line.strip()
        else:
            current = None
    since = any(re.match(r"^\s*Since\s*:\s*\S", line) for line in lines)
    return title, params, since
