from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import function_defs
from workers.rules.docparse import rng_names, xml_names

_PARSER_RE = re.compile(r"^src/conf/(\w+?)_conf\.c$")
_SCHEMA_RE = re.compile(r"^(src/conf|docs)/schemas/[\w-]+\.rng$")
_DOC_RE = re.compile(r"^docs/.*\.(rst|html\.in)$")
_INCLUDE_RE = re.compile(r'<(?:include|externalRef)\s+href="([\w.-]+\.rng)"')
_INTERNAL_RE = re.compile(r"Obj|Status|Private")
_SCHEMA_OF = {"domain": "domaincommon", "storage": "storagepool", "node_device": "nodedev",
              "capabilities": "capability", "domain_capabilities": "domaincaps", "snapshot": "domainsnapshot",
              "checkpoint": "domaincheckpoint", "storage_vol": "storagevol"}


def schemas_for(parser: str) -> list[str]:
    m = _PARSER_RE.match(parser)
    name = _SCHEMA_OF.get(m.group(1), m.group(1)) if m else ""
    return [f"src/conf/schemas/{name}.rng", f"docs/schemas/{name}.rng"] if name else []


@rule
class XmlChangeDocumented:
    """By the end of the series, a new XML element or attribute has its RelaxNG schema and format docs.

    Guide, "define the public API": "If the new API involves an XML extension, you have to enhance the
    RelaxNG schema and document the new elements or attributes" (src/conf/schemas/*.rng and
    docs/formatdomain.rst or the matching page). A name is new when src/conf starts parsing it
    (virXMLProp*(), virXPath*(), virXMLNodeNameEqual()) and neither the parser nor its schema knew it.
    """

    id = "libvirt.xml-change-documented"
    severity = Severity.ERROR
    scope = Scope.SERIES_END
    guide = ("If the new API involves an XML extension, you have to enhance the RelaxNG schema and document "
             "the new elements or attributes")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        parsed_new: dict[str, tuple[str, int]] = {}  # name -> (parser file, patch)
        schema_added, doc_added = set(), ""
        for info in ctx.series:
            for diff in ctx.series_files(info.index):
                added = "\n".join(text for _, text in diff.added)
                if _PARSER_RE.match(diff.path):
                    for name in self._public_names(ctx, diff.path, diff.added):
                        parsed_new.setdefault(name, (diff.path, info.index))
                elif _SCHEMA_RE.match(diff.path):
                    schema_added |= rng_names(added)
                elif _DOC_RE.match(diff.path):
                    doc_added += "\n" + added
        for name, (parser, index) in sorted(parsed_new.items()):
            if self._known(ctx, name, parser):
                continue
            missing = []
            if name not in schema_added:
                missing.append("the RelaxNG schema (src/conf/schemas/*.rng)")
            if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", doc_added):
                missing.append("the format documentation (docs/format*.rst)")
            if missing:
                yield ctx.finding(self, parser, self._line(ctx, parser, name),
                                  f"the XML name '{name}' parsed since patch {index} is not in "
                                  f"{' nor in '.join(missing)}", patch_index=index)

    def _public_names(self, ctx: RuleContext, path: str, added: list[tuple[int, str]]) -> set[str]:
        """Names read by added lines, leaving out the parsers of status and private XML (virDomainObj...,
        ...Status..., ...Private...), which libvirt keeps to itself: no schema, no documentation."""
        defs = [fn for fn in (ctx.parsed("defs", path, function_defs) or {}).values()
                if _INTERNAL_RE.search(fn.name)]
        names: set[str] = set()
        for n, text in added:
            if not any(fn.line <= n <= fn.end_line for fn in defs):
                names |= xml_names(text)
        return names

    def _known(self, ctx: RuleContext, name: str, parser: str) -> bool:
        """Parsed, or in the schema (or a schema it includes), before the series: not new."""
        if name in (ctx.parsed("xml-names", parser, xml_names, base=True) or set()):
            return True
        todo = [*schemas_for(parser), *ctx.series_paths(lambda p: bool(_SCHEMA_RE.match(p)))]
        seen: set[str] = set()
        while todo:
            schema = todo.pop()
            if schema in seen:
                continue
            seen.add(schema)
            text = ctx.read_base(schema)
            if text is None:
                continue
            if name in (ctx.parsed("rng-names", schema, rng_names, base=True) or set()):
                return True
            todo += [f"{schema.rsplit('/', 1)[0]}/{href}" for href in _INCLUDE_RE.findall(text)]
        return False

    def _line(self, ctx: RuleContext, parser: str, name: str) -> int:
        for n, line in enumerate((ctx.read(parser) or "").split("\n"), start=1):
            if name in line and name in xml_names(line):
                return n
        return 1
