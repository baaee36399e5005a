"""The only module that imports b4 (pinned in pyproject: its Python API is not promised stable).

We use b4 offline only: subject tag parsing and trailer finding. Nothing here reaches the network
(b4's get_series() with code-review trailers would query lore; we never call it)."""

from __future__ import annotations

import logging
import re

import b4

from bot.records import SubjectInfo, Trailer

b4.logger.setLevel(logging.CRITICAL)

# b4 silently turns an absurd "99999/99999" into 1/1; we keep the claim so it can be refused.
_COUNTER_RE = re.compile(r"\b0*(\d{1,9})/0*(\d{1,9})\b")
PATCH_TAGS = {"PATCH", "RFC", "PULL", "RESEND", "PATCHV2"}
MAX_SERIES_LENGTH = 999
PERSON_TRAILERS = ("Reviewed-by", "Acked-by", "Tested-by", "Reported-by")


def parse_subject(subject: str) -> SubjectInfo:
    ls = b4.LoreSubject(subject)
    prefixes = tuple(str(p) for p in ls.prefixes)
    upper = {p.upper() for p in prefixes}
    counter, total = int(ls.counter), int(ls.expected)
    claimed = None
    for prefix in prefixes:
        m = _COUNTER_RE.fullmatch(prefix)
        if m:
            claimed = (int(m.group(1)), int(m.group(2)))
    if claimed and claimed != (counter, total):
        counter, total = claimed
    # b4 counts "Fwd:" as a reply; a forwarded patch is still a patch, the body decides.
    stripped = subject.lstrip()
    is_reply = bool(ls.reply) and not re.match(r"(?i)(fwd?|fw):", stripped)
    return SubjectInfo(
        title=re.sub(r"\s+", " ", str(ls.subject)).strip(),
        prefixes=prefixes,
        version=int(ls.revision or 1),
        counter=counter,
        total=total,
        is_reply=is_reply,
        is_patch_prefix=bool(upper & PATCH_TAGS) or bool(ls.patch),
        is_rfc=bool(ls.rfc),
        is_resend=bool(ls.resend),
    )


def find_trailers(body: str) -> list[Trailer]:
    """Trailers in a mail body (b4's finder), skipping quoted lines."""
    trailers, _others = b4.LoreMessage.find_trailers(body, followup=True)
    found: list[Trailer] = []
    for t in trailers:
        raw_name = str(t.name)
        name = raw_name[:1].upper() + raw_name[1:].lower()
        found.append(Trailer(name=name, value=str(t.value).strip()))
    return found
