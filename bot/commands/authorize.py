"""Pure: may this sender run this command on this series?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dkim

# Tests swap in a local key lookup; production uses DNS (dnspython) through dkimpy.
DNS_FUNC: Callable[..., bytes | None] | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def authorize(sender: str, *, needs_permission: bool, series_author: str | None, maintainers: tuple[str, ...],
              dkim_required: bool, dkim_ok: bool, recent_commands: int, limit: int) -> Decision:
    sender = sender.lower()
    if recent_commands >= limit:
        return Decision(False, f"rate limit: {recent_commands} commands from {sender} in the last hour")
    if not needs_permission:
        return Decision(True, "anyone may ask for this")
    if dkim_required and not dkim_ok:
        return Decision(False, "the project requires a passing DKIM signature on commands")
    if series_author and sender == series_author.lower():
        return Decision(True, "series author")
    if sender in {m.lower() for m in maintainers}:
        return Decision(True, "project maintainer")
    return Decision(False, "only the series author and the project's maintainers may do this")


def dkim_passes(raw: bytes) -> bool:
    """True when the mail carries a DKIM signature that verifies."""
    if b"dkim-signature:" not in raw[:65536].lower():
        return False
    try:
        if DNS_FUNC is not None:
            return bool(dkim.verify(raw, dnsfunc=DNS_FUNC))
        return bool(dkim.verify(raw))
    except Exception:
        return False
