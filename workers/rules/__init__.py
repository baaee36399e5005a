"""The API-conformance rule seam: one rule = one module = one class, discovered, never listed.

A rule has a stable id (`<profile>.<kebab-name>`), a severity (ERROR for the guide's MUST, WARNING
for its SHOULD), a scope (every patch, or the end of the series), the guide sentence it enforces
(verbatim from shared/reference/api-extension-guide.txt) and a pure `check(ctx)` that yields
findings. Rules only judge; bot.report.policy decides what a verdict means for the mail.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Protocol

from bot.records import Finding, Scope, Severity

if TYPE_CHECKING:
    from workers.rules.context import RuleContext

PROFILES = ("generic", "libvirt")


class Rule(Protocol):
    id: ClassVar[str]
    severity: ClassVar[Severity]
    scope: ClassVar[Scope]
    guide: ClassVar[str]

    def check(self, ctx: RuleContext) -> Iterator[Finding]: ...


_REGISTRY: dict[str, type] = {}


def rule(cls: type) -> type:
    """Class decorator: register a rule under its id (ids are unique and never reused)."""
    rule_id = cls.id  # type: ignore[attr-defined]
    if rule_id in _REGISTRY and _REGISTRY[rule_id] is not cls:
        raise ValueError(f"duplicate rule id {rule_id}")
    _REGISTRY[rule_id] = cls
    return cls


def title_of(rule_obj: object) -> str:
    doc = (type(rule_obj).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else rule_obj.id  # type: ignore[attr-defined]


def discover(profiles: tuple[str, ...] | list[str] = PROFILES) -> list[Rule]:
    """Import every module of the named profile packages and return their rules, sorted by id."""
    for profile in profiles:
        if profile not in PROFILES:
            raise ValueError(f"unknown rule profile {profile!r} (known: {', '.join(PROFILES)})")
        package = importlib.import_module(f"workers.rules.{profile}")
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    chosen = [cls() for rule_id, cls in sorted(_REGISTRY.items()) if rule_id.split(".")[0] in profiles]
    return chosen  # type: ignore[return-value]


class Configured:
    """A rule with the project's severity override applied."""

    def __init__(self, inner: Rule, severity: Severity) -> None:
        self.inner = inner
        self.id = inner.id
        self.severity = severity
        self.scope = inner.scope
        self.guide = inner.guide
        self.__doc__ = type(inner).__doc__

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for finding in self.inner.check(ctx):
            yield Finding(finding.rule_id, self.severity, finding.path, finding.line, finding.message,
                          finding.guide, finding.patch_index)


def rules_for_project(profiles: tuple[str, ...], disabled: tuple[str, ...] = (),
                      severity: dict[str, str] | None = None) -> list[Rule]:
    severity = severity or {}
    chosen: list[Rule] = []
    for r in discover(profiles):
        wanted = severity.get(r.id)
        if r.id in disabled or wanted == "off":
            continue
        chosen.append(Configured(r, Severity(wanted)) if wanted else r)  # type: ignore[arg-type]
    return chosen
