"""store_message: the one way in. Every mail, from SMTP, LMTP, an mbox or lore, is committed here
with its raw bytes before anything else happens; then ingest is enqueued after the commit. The
reconciler re-enqueues rows left 'stored' by a crash between the two."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import queue
from bot.db.models import Message
from bot.db.session import session_scope
from bot.settings import Settings

log = logging.getLogger("seriesbot.receive")


@dataclass(frozen=True)
class StoreOutcome:
    message_pk: int
    message_id: str
    created: bool  # False: the same Message-ID was already stored (a duplicate, answered 250 anyway)
    project: str | None


def normalise_msgid(value: str | None) -> str:
    value = (value or "").strip()
    if value.startswith("<") and ">" in value:
        value = value[1 : value.index(">")]
    return value.strip()


def header_msgid(raw: bytes) -> str:
    """The Message-ID, or a stable one made from the bytes when the header is missing or empty."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        value = normalise_msgid(str(headers.get("Message-ID", "") or ""))
    except Exception:  # a header block too broken to parse still gets stored
        value = ""
    if not value or len(value) > 900 or any(c.isspace() for c in value):
        value = f"{hashlib.sha256(raw).hexdigest()[:40]}@missing-id.seriesbot"
    return value


def route_project(raw: bytes, recipients: list[str], settings: Settings) -> str | None:
    """Which project a mail belongs to: by List-Id first, else by the list address it was sent to;
    mail straight to the bot (private testing) by `bot+<project>@`, a `[<project> PATCH]` subject
    tag, or the only project there is."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        list_id = str(headers.get("List-Id", "") or "")
        subject = str(headers.get("Subject", "") or "")
    except Exception:
        list_id = subject = ""
    if "<" in list_id and ">" in list_id:
        list_id = list_id[list_id.rindex("<") + 1 : list_id.rindex(">")]
    if list_id.strip():
        project = settings.project_for_list(list_id.strip())
        return project.name if project else None
    for rcpt in recipients:
        project = settings.project_for_address(rcpt)
        if project:
            return project.name
    bot_local, _, bot_domain = settings.bot_address.lower().partition("@")
    for rcpt in recipients:
        local, _, domain = rcpt.lower().partition("@")
        if domain != bot_domain or not (local == bot_local or local.startswith(bot_local + "+")):
            continue
        tag = local.partition("+")[2]
        if tag in settings.projects:
            return tag
        m = re.search(r"\[([a-z0-9_-]+) (?:RFC )?PATCH", subject, re.I)
        if m and m.group(1).lower() in settings.projects:
            return m.group(1).lower()
        if len(settings.projects) == 1:
            return next(iter(settings.projects))
    return None


def new_message_row(raw: bytes, settings: Settings, *, source: str, envelope_from: str = "",
                    envelope_to: list[str] | None = None, status: str = "stored", reason: str = "",
                    message_id: str | None = None, history: bool = False) -> Message:
    recipients = list(envelope_to or [])
    return Message(message_id=message_id or header_msgid(raw), project=route_project(raw, recipients, settings),
                   source=source, envelope_from=envelope_from, envelope_to=recipients, raw=raw, size=len(raw),
                   status=status, reason=reason, history=history)


def store_message(
    raw: bytes,
    settings: Settings,
    *,
    source: str,
    envelope_from: str = "",
    envelope_to: list[str] | None = None,
    status: str = "stored",
    reason: str = "",
    enqueue: bool = True,
    history: bool = False,
    session: Session | None = None,
) -> StoreOutcome:
    """Commit the raw message (once per Message-ID), then enqueue its ingest. `history`: old mail
    (an import, an archive read from before the project followed it) that builds the dashboard's
    history but starts no run and sends no mail. With `session`, the row is only flushed in the
    caller's transaction (a batch: the caller commits, and ingests or leaves it to the reconciler)."""
    message_id = header_msgid(raw)
    if session is not None:
        return _store_in(session, raw, settings, message_id, source=source, envelope_from=envelope_from,
                         envelope_to=envelope_to, status=status, reason=reason, history=history)
    with session_scope(settings.database_url) as own:
        outcome = _store_in(own, raw, settings, message_id, source=source, envelope_from=envelope_from,
                            envelope_to=envelope_to, status=status, reason=reason, history=history)
    if not outcome.created:
        return outcome
    log.info("event=stored msgid=%s pk=%d project=%s source=%s size=%d", message_id, outcome.message_pk,
             outcome.project, source, len(raw))
    if settings.fault == "crash-after-store":  # the crash tests: die between the commit and the enqueue
        os.kill(os.getpid(), signal.SIGKILL)
    if enqueue and status == "stored":
        queue.enqueue(queue.INGEST, outcome.message_pk)
    return outcome


def _store_in(session: Session, raw: bytes, settings: Settings, message_id: str, *, source: str,
              envelope_from: str, envelope_to: list[str] | None, status: str, reason: str,
              history: bool) -> StoreOutcome:
    existing = session.execute(select(Message.id, Message.project, Message.source)
                               .where(Message.message_id == message_id)).first()
    if existing is not None:
        if existing.source == "archive" and source != "archive":
            # delivered after the archive had it: source "archive" counts mail only the archive brought
            session.execute(update(Message).where(Message.id == existing.id).values(source=source))
        return StoreOutcome(existing.id, message_id, False, existing.project)
    row = new_message_row(raw, settings, source=source, envelope_from=envelope_from, envelope_to=envelope_to,
                          status=status, reason=reason, message_id=message_id, history=history)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # a concurrent delivery of the same Message-ID won the race
        found = session.scalar(select(Message).where(Message.message_id == message_id))
        assert found is not None
        return StoreOutcome(found.id, message_id, False, found.project)
    return StoreOutcome(row.id, message_id, True, row.project)
