from __future__ import annotations

import re
from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext

MAX_SUBJECT = 72
# "qemu: ", "conf: domain: ", "docs/manpages: ", "conf, qemu: ", "NEWS: "; a revert keeps git's form
_PREFIX_RE = re.compile(r"^(Revert \"|[\w.+/-]+(?:(?:,\s*|\s+)[\w.+/-]+){0,2}: \S)")


@rule
class SubjectForm:
    """The subject line is at most 72 characters and starts with a subsystem prefix ("qemu: ...").

    libvirt's contribution guidelines: a short summary line, prefixed with the area of code it
    touches, so that `git log --oneline` and the list archive read well.
    """

    id = "generic.subject-form"
    severity = Severity.WARNING
    scope = Scope.PATCH
    guide = ""
    source = "libvirt's contribution guidelines (docs/hacking.rst, 'Submitting patches')"

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        subject = ctx.patch.subject.strip()
        if len(subject) > MAX_SUBJECT:
            yield ctx.finding(self, "", 0, f"the subject is {len(subject)} characters long (at most {MAX_SUBJECT})")
        if not _PREFIX_RE.match(subject):
            yield ctx.finding(self, "", 0, "the subject has no subsystem prefix (like 'qemu: ' or 'virsh: ')")
