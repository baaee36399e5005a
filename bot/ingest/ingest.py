"""ingest_message(pk): load -> parse -> decide -> persist -> schedule when a series completes.

Idempotent: a message is ingested once (its status leaves 'stored' in the same transaction that
persists the decision). A message that crashes ingest is marked 'error' with the reason, never lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.utils import parsedate_to_datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Message
from bot.db.session import lock_project, session_scope
from bot.ingest.b4compat import PERSON_TRAILERS
from bot.ingest.grouping import MailFacts, is_unthreaded_patch, unthreaded_root
from bot.ingest.listmail import author_copy
from bot.ingest.parse import parse_mail
from bot.ingest.patchid import patch_id
from bot.ingest.regroup import Pending, regroup
from bot.logs import bound
from bot.records import ParsedMail
from bot.settings import Settings

log = logging.getLogger("seriesbot.ingest")


def ingest_row(session: Session, settings: Settings, row: Message, pending: Pending | None = None) -> str:
    """Parse one stored message and persist what it means, in the caller's transaction. With
    `pending` (an import), its thread is re-grouped by flush_pending at the end of the batch."""
    parsed = parse_mail(row.raw, bot_address=settings.bot_address, command_prefix=settings.command_prefix,
                        list_addresses=tuple(p.list_address for p in settings.projects.values()))
    _record_headers(row, parsed)
    if parsed.list_changes and parsed.kind == "patch":  # git am gets the author's copy, not the list's
        row.author_raw = author_copy(row.raw, changes=parsed.list_changes, author_name=parsed.from_name,
                                     author_email=parsed.from_email, subject=parsed.subject)
    row.status = _route(session, settings, row, parsed, pending)
    return row.status


def ingest_message(pk: int, settings: Settings) -> str:
    """Returns the message's new status (for logs and tests)."""
    with bound(message=pk):
        return _ingest_message(pk, settings)


def _ingest_message(pk: int, settings: Settings) -> str:
    try:
        with session_scope(settings.database_url) as session:
            row = session.get(Message, pk, with_for_update=True)
            if row is None or row.status != "stored":
                return row.status if row else "missing"
            return ingest_row(session, settings, row)
    except Exception as exc:
        log.exception("event=ingest-crashed pk=%d", pk)
        with session_scope(settings.database_url) as session:
            row = session.get(Message, pk)
            if row is not None:
                row.status = "error"
                row.reason = f"ingest crashed: {exc!r}"[:2000]
        return "error"


def _record_headers(row: Message, parsed: ParsedMail) -> None:
    row.kind = parsed.kind
    row.subject = parsed.subject[:2000]
    row.from_addr = parsed.from_email[:320]
    row.in_reply_to = parsed.in_reply_to
    row.references = list(parsed.references)[-50:]
    if parsed.problems:
        row.reason = "; ".join(parsed.problems)[:2000]


def _route(session: Session, settings: Settings, row: Message, parsed: ParsedMail, pending: Pending | None) -> str:
    if parsed.list_notice:  # the list server's own mail: marked; a confirmation the bot asked for answered
        from bot.commands.subscription import handle_list_notice

        return handle_list_notice(session, settings, row, parsed)
    if parsed.ignore_reason:
        row.reason = parsed.ignore_reason
        return "ignored"
    if parsed.reject_reason:
        row.reason = parsed.reject_reason
        return "rejected"
    if row.project is not None and parsed.kind in ("patch", "cover", "reply") and pending is None:
        lock_project(session, row.project)
    if parsed.commands and parsed.kind not in ("patch", "cover"):  # history: recorded, not run (dispatch)
        # a command may come straight to the bot, without a List-Id: its series names the project
        from bot.commands.dispatch import handle_commands

        if handle_commands(session, settings, row, parsed):
            if row.project is not None and parsed.kind == "reply" and parsed.thread_ids:
                row.status = "parsed"
                _assemble(session, settings, row, parsed, pending)
            return "parsed"
    if row.project is None:
        row.reason = f"List-Id {parsed.list_id!r} belongs to no configured project" if parsed.list_id else \
            "not addressed to a configured list"
        return "ignored"
    if parsed.kind in ("patch", "cover") or (parsed.kind == "reply" and parsed.thread_ids):
        row.status = "parsed"
        _assemble(session, settings, row, parsed, pending)
        return "parsed"
    if parsed.kind == "reply":
        return "parsed"
    row.reason = row.reason or "not a patch, a cover letter or a reply to one"
    return "parsed"


def _assemble(session: Session, settings: Settings, row: Message, parsed: ParsedMail,
              pending: Pending | None) -> None:
    """Record the mail's facts, then re-derive its thread's series (now, or at the end of the batch)."""
    facts = mail_facts(parsed)
    extra = facts.to_json()
    extra.update(name=parsed.from_name, private=_is_private(settings, row, parsed), is_rfc=parsed.subject_info.is_rfc)
    if parsed.kind == "patch":
        extra.update(patch_id=patch_id(parsed.diff), base_commit=parsed.base_commit, based_on=list(parsed.based_on),
                     prereq=list(parsed.prerequisite_patch_ids))
    elif parsed.kind == "cover":
        extra.update(base_commit=parsed.base_commit, based_on=list(parsed.based_on),
                     prereq=list(parsed.prerequisite_patch_ids))
    row.facts = extra
    row.thread_root = facts.chain[0] if facts.chain else (
        unthreaded_root(facts) if is_unthreaded_patch(facts) else facts.msgid)
    project = row.project or ""
    if parsed.kind == "reply" and not facts.trailers:
        # a reply that carries nothing for the series changes no grouping: it only hangs on its
        # patch's series (now, or when regroup finds it beside the patch that arrives later)
        session.flush()
        row.series_id = session.scalar(select(Message.series_id).where(
            Message.project == project, Message.message_id == facts.parent, Message.kind.in_(("patch", "cover")),
            Message.facts.is_not(None)).limit(1))
        return
    roots = {row.thread_root, facts.msgid}  # its thread, and the replies to it (an unthreaded patch)
    if pending is not None:
        for root in roots:
            pending.add(project, root)
        return
    session.flush()
    regroup(session, settings, project, roots)
    log.info("event=assembled msgid=%s kind=%s root=%s", parsed.message_id, parsed.kind, row.thread_root)


def mail_facts(parsed: ParsedMail) -> MailFacts:
    info = parsed.subject_info
    try:
        sent = parsedate_to_datetime(parsed.date) if parsed.date else None
        if sent is not None and sent.tzinfo is not None:
            sent = sent.astimezone(dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, IndexError):
        sent = None
    wanted = parsed.trailers if parsed.kind in ("patch", "reply") else ()
    return MailFacts(
        msgid=parsed.message_id, kind=parsed.kind, author=parsed.from_email, version=info.version,
        counter=info.counter, total=info.total, title=info.title, chain=_chain(parsed), sent_at=sent,
        trailers=tuple((t.name, t.value) for t in wanted if t.name in PERSON_TRAILERS),
        change_id=parsed.change_id, supersedes=tuple(parsed.supersedes), is_resend=info.is_resend)


def _chain(parsed: ParsedMail) -> tuple[str, ...]:
    """References, then In-Reply-To last: the parent is what the mail answers (regroup finds
    replies by that indexed header)."""
    refs = [r for r in parsed.references if r != parsed.in_reply_to]
    return tuple(refs + [parsed.in_reply_to] if parsed.in_reply_to else refs)


def flush_pending(session: Session, settings: Settings, pending: Pending) -> None:
    for project, roots in sorted(pending.roots.items()):
        lock_project(session, project)
        regroup(session, settings, project, roots)
    pending.roots.clear()


def _is_private(settings: Settings, row: Message, parsed: ParsedMail) -> bool:
    """Mailed straight to the bot (not through the list): tested and answered to the sender only."""
    if parsed.list_id:
        return False
    bot = settings.bot_address.lower()
    to_bot = any(r.lower() == bot or r.lower().startswith(bot.split("@")[0] + "+") for r in row.envelope_to)
    project = settings.projects.get(row.project or "")
    to_list = project is not None and project.list_address.lower() in (parsed.to_addresses or ())
    return to_bot and not to_list


