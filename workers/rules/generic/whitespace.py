from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext

MAX_PER_FILE = 5  # a reply lists a few; the rest is the same mistake
_SKIP_RE = re.compile(r"\.(patch|diff|eml|mbox|md)$|(^|/)tests/.*data/|^po/")
_SPACE_BEFORE_TAB_RE = re.compile(r"^\t* +\t")


@rule
class Whitespace:
    """A patch adds no whitespace errors: trailing whitespace, space before tab, blank lines at EOF.

    git's own notion of a whitespace error (`git diff --check`), which libvirt's syntax-check also
    enforces; test data, patches and Markdown (where trailing spaces mean something) are left alone.
    """

    id = "generic.whitespace"
    severity = Severity.ERROR
    scope = Scope.PATCH
    guide = ""
    source = "git diff --check (core.whitespace defaults) and libvirt's syntax-check"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        for diff in ctx.files:
            if _SKIP_RE.search(diff.path) or not diff.added:
                continue
            count = 0
            for n, text in diff.added:
                problem = ("trailing whitespace" if text != text.rstrip() else
                           "space before tab in indent" if _SPACE_BEFORE_TAB_RE.match(text) else None)
                if problem and count < MAX_PER_FILE:
                    count += 1
                    yield ctx.finding(self, diff.path, n, f"adds {problem}")
            last_n, last_text = diff.added[-1]
            if not last_text.strip() and count < MAX_PER_FILE:
                content = ctx.read(diff.path)
                if content is not None and last_n == content.count("\n") and content.endswith("\n\n"):
                    yield ctx.finding(self, diff.path, last_n, "adds a blank line at the end of the file")
