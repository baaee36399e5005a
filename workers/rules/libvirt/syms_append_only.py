from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.libvirt_api import SYMS
from workers.rules.symsparse import SymsSection, project_version, section_version, syms_sections

_NOISE_RE = re.compile(r"^\s*(#.*)?$")
_SYMBOL_LINE_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*;")


@rule
class SymsAppendOnly:
    """libvirt_public.syms only grows: new symbols go in a new version section appended after the last.

    Guide, "define the public API": "once the API has been committed to the repository, it's libvirt's
    policy never to change it". A released section is never edited and no symbol is removed or moved;
    a new section is appended after the last one and inherits from it. Sections that are not released
    may grow: one the series created, or one for the version meson.build is heading for (libvirt bumps
    that version right after each release, so several series add to it within one release).
    """

    id = "libvirt.syms-append-only"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = "once the API has been committed to the repository, it's libvirt's policy never to change it"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        diff = ctx.file(SYMS)
        if diff is None or diff.is_removed:
            return
        now: list[SymsSection] = ctx.parsed("syms-sections", SYMS, syms_sections) or []
        before: list[SymsSection] = ctx.parsed("syms-sections", diff.old_path, syms_sections, before=True) or []
        base = ctx.parsed("syms-sections", SYMS, syms_sections, base=True)
        released_names = {s.name for s in (before if base is None else base)}
        heading_for = ctx.parsed("meson-version", "meson.build", project_version)

        def released(name: str) -> bool:
            version = section_version(name)
            upcoming = version is not None and heading_for is not None and version >= heading_for
            return name in released_names and not upcoming

        seen: set[int] = set()
        for n, text in diff.added:
            section = next((s for s in now if s.holds(n)), None)
            if _NOISE_RE.match(text) or section is None or n in seen or not released(section.name):
                continue
            seen.add(n)
            yield ctx.finding(self, SYMS, n, f"edits the released section {section.name}: new symbols go in "
                                             "a new version section appended after the last one")
        for old_n, text in diff.removed:
            section = next((s for s in before if s.holds(old_n)), None)
            if _NOISE_RE.match(text) or section is None or not released(section.name):
                continue
            at = diff.removed_at.get(old_n, 1)
            if at in seen:
                continue
            seen.add(at)
            symbol = _SYMBOL_LINE_RE.match(text)
            what = f"removes {symbol.group(1)} from" if symbol else "changes"
            yield ctx.finding(self, SYMS, at, f"{what} the released section {section.name}: "
                                              "exported symbols are never removed, moved or renamed")
        yield from self._new_sections(ctx, now, {s.name for s in before}, seen)

    def _new_sections(self, ctx: RuleContext, now: list[SymsSection], old_names: set[str],
                      seen: set[int]) -> Iterator[Finding]:
        last_old = max((i for i, s in enumerate(now) if s.name in old_names), default=-1)
        for i, section in enumerate(now):
            if section.name in old_names or section.line in seen:
                continue
            if i < last_old:
                yield ctx.finding(self, SYMS, section.line, f"the new section {section.name} is not appended "
                                                            f"after the last section {now[last_old].name}")
            elif i > 0 and section.parent != now[i - 1].name:
                yield ctx.finding(self, SYMS, section.line, f"the new section {section.name} inherits from "
                                                            f"{section.parent or 'nothing'}, not from the "
                                                            f"section before it, {now[i - 1].name}")
