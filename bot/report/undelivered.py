"""The admins' mail about a mail that will not be delivered (refused for good, attempts exhausted,
or its outcome unknown twice): what it was, why, and how to send it again."""

from __future__ import annotations

from bot.db.models import OutboundMail
from bot.records import OutgoingMail
from bot.settings import Settings

KIND = "undelivered"


def alert(row: OutboundMail, settings: Settings) -> OutgoingMail | None:
    """None when there is nobody to tell, or the row is itself such an alert (no mail loop)."""
    admins = tuple(settings.admin_addresses)
    if not admins or row.kind == KIND:
        return None
    domain = settings.bot_address.rpartition("@")[2] or "localhost"
    where = f"{settings.public_url}/series/{row.series_id}" if row.series_id else f"{settings.public_url}/projects"
    body = "\n".join([
        f"A {row.kind} mail could not be delivered after {row.attempts} attempt(s):", "",
        f"  Subject:    {row.subject[:200]}",
        f"  To:         {', '.join([*row.to, *row.cc])[:300]}",
        f"  Message-ID: <{row.message_id}>",
        f"  Error:      {row.last_error[:500]}", "",
        f"Dashboard: {where}",
        f"Send it again: seriesbot outbox retry {row.id}", ""])
    return OutgoingMail(
        key=f"{KIND}/{row.id}/{row.attempts}/{row.unknown_outcomes}", kind=KIND, to=admins, cc=(),
        subject=f"[seriesbot] undelivered: {row.subject[:120]}", body=body, in_reply_to=None, references=(),
        message_id=f"seriesbot.undelivered-{row.id}-{row.attempts}-{row.unknown_outcomes}@{domain}",
        headers={"X-Seriesbot": settings.bot_name, "Auto-Submitted": "auto-generated", "X-Loop": settings.bot_address})
