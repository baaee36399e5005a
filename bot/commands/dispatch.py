"""Handle the command lines of one mail: find the series it replies to, authorise the sender, run
the command, record the decision, and answer when there is something to say (a refusal at most
once an hour per sender)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.commands import CommandContext, CommandOutcome, CommandRequest, discover, help_text
from bot.commands.authorize import authorize, dkim_passes
from bot.db.models import CommandRow, Message, OutboundMail, Patch, Series, utcnow
from bot.records import OutgoingMail, ParsedMail
from bot.report.outbox import queue_mail
from bot.settings import ProjectSettings, Settings

log = logging.getLogger("seriesbot.commands")
MAX_COMMANDS_PER_MAIL = 5
WAITING = "waiting: the series it replies to has not arrived yet"


def run_waiting_commands(session: Session, settings: Settings, message_pks: list[int]) -> None:
    """The series a waiting command replies to has arrived: decide it now, as if it came now."""
    from bot.ingest.parse import parse_mail

    waiting = session.scalars(select(CommandRow).where(CommandRow.message_pk.in_(message_pks),
                                                       CommandRow.decision == WAITING)).all()
    for pk in sorted({c.message_pk for c in waiting}):
        for c in waiting:
            if c.message_pk == pk:
                session.delete(c)
        session.flush()
        row = session.get(Message, pk)
        if row is None:
            continue
        parsed = parse_mail(row.raw, bot_address=settings.bot_address, command_prefix=settings.command_prefix,
                            list_addresses=tuple(p.list_address for p in settings.projects.values()))
        handle_commands(session, settings, row, parsed, retry=True)


def find_series(session: Session, parsed: ParsedMail) -> Series | None:
    """The series a mail replies to: through a patch, the cover letter, or one of our own replies."""
    ids = list(parsed.thread_ids)
    if not ids:
        return None
    candidates = set(session.scalars(select(Patch.series_id).where(Patch.message_id.in_(ids))))
    candidates |= set(session.scalars(select(Series.id).where(Series.cover_msgid.in_(ids))))
    candidates |= {i for i in session.scalars(select(OutboundMail.series_id).where(OutboundMail.message_id.in_(ids)))
                   if i is not None}
    return session.get(Series, max(candidates)) if candidates else None


def _recent(session: Session, sender: str, **where: object) -> int:
    since = utcnow() - dt.timedelta(hours=1)
    query = select(func.count(CommandRow.id)).where(CommandRow.sender == sender, CommandRow.created_at > since)
    for key, value in where.items():
        query = query.where(getattr(CommandRow, key) == value)
    return session.scalar(query) or 0


def handle_commands(session: Session, settings: Settings, row: Message, parsed: ParsedMail, *,
                    retry: bool = False) -> int:
    """Returns how many commands were recorded. A command replying to a mail the bot does not know
    (yet) is recorded as waiting; bot.ingest.regroup runs it again once its series exists."""
    series = find_series(session, parsed)
    project: ProjectSettings | None = settings.projects.get(series.project if series else (row.project or ""))
    if project is None:
        row.reason = "commands in a mail for no configured project"
        return 0
    commands = discover()
    sender = parsed.from_email
    dkim_ok = dkim_passes(row.raw) if project.dkim_required else False
    for position, line in enumerate(parsed.commands[:MAX_COMMANDS_PER_MAIL]):
        request = CommandRequest(sender, line.verb, line.args, row.id, parsed.message_id, parsed.subject,
                                 parsed.references)
        command = commands.get(line.verb)
        recent = _recent(session, sender)
        if row.history:  # an imported archive's old command: part of the record, never acted on
            outcome = CommandOutcome("recorded from imported history, not executed", ok=False, reply=None)
        elif command is None:
            outcome = CommandOutcome(f"unknown command {line.verb!r}", ok=False, reply=(
                f"Unknown command {line.verb!r}.\n\n" + help_text(settings.command_prefix)))
        elif command.needs_series and series is None and parsed.thread_ids and row.project and not retry:
            # the patch it replies to may simply not be here yet: run it when that arrives
            outcome = CommandOutcome(WAITING, ok=False, reply=None)
        elif command.needs_series and series is None:
            outcome = CommandOutcome("refused: not a reply to a series the bot knows", ok=False, reply=(
                f"{line.verb}: this mail does not reply to a patch series the bot knows. Reply to one of the "
                "patches or to the cover letter."))
        else:
            decision = authorize(sender, needs_permission=command.needs_permission,
                                 series_author=series.author_email if series else None,
                                 maintainers=project.maintainers, dkim_required=project.dkim_required,
                                 dkim_ok=dkim_ok, recent_commands=recent, limit=project.commands_per_hour)
            if decision.allowed:
                outcome = command.run(CommandContext(session, settings, project, series, request))
                outcome.decision = f"{outcome.decision} ({decision.reason})"
            else:
                outcome = CommandOutcome(f"refused: {decision.reason}", ok=False, reply=(
                    f"Sorry, I cannot do {line.verb!r} for you: {decision.reason}."))
        record = CommandRow(message_pk=row.id, series_id=series.id if series else None, sender=sender,
                            verb=line.verb, args=list(line.args), allowed=outcome.ok, decision=outcome.decision,
                            run_id=outcome.run_id)
        if outcome.reply and _may_reply(session, sender, outcome.ok):
            record.replied = _queue_reply(session, settings, project, row, parsed, position, outcome.reply, series)
        session.add(record)
        session.flush()
        log.info("event=command msgid=%s sender=%s verb=%s decision=%s", parsed.message_id, sender, line.verb,
                 outcome.decision)
    return min(len(parsed.commands), MAX_COMMANDS_PER_MAIL)


def _may_reply(session: Session, sender: str, ok: bool) -> bool:
    """A refusal is answered at most once an hour per sender; help and errors within the rate limit."""
    if ok:
        return True
    return _recent(session, sender, allowed=False, replied=True) == 0


def _queue_reply(session: Session, settings: Settings, project: ProjectSettings, row: Message, parsed: ParsedMail,
                 position: int, text: str, series: Series | None) -> bool:
    domain = settings.bot_address.rsplit("@", 1)[-1]
    subject = parsed.subject if parsed.subject.lower().startswith("re:") else f"Re: {parsed.subject}"
    body = text.rstrip() + "\n\n-- \n" + f"{settings.bot_name}: {settings.public_url}/\n"
    mail = OutgoingMail(
        key=f"command-{row.id}-{position}", kind="command-reply", to=(parsed.from_email,), cc=(),
        subject=subject, body=body, in_reply_to=parsed.message_id,
        references=(*parsed.references, parsed.message_id),
        message_id=f"seriesbot.command-{row.id}-{position}@{domain}",
        headers={"X-Seriesbot": settings.bot_name, "Auto-Submitted": "auto-replied", "X-Loop": settings.bot_address},
    )
    return queue_mail(session, mail, run_id=None, series_id=series.id if series else None,
                      dry_run=project.report.dry_run)
