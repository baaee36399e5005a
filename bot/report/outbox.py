"""The outbox: every mail the bot sends is a row first (unique key per run, patch and kind), then
a sender delivers due rows with retries and exponential backoff. A crash between render and send
loses nothing; a retry of the render is a no-op. A send whose outcome is unknown is looked up on the
list archive and resent at most once; a mail refused for good is kept as `failed`, the admins are
told, and `seriesbot outbox retry` sends it again."""

from __future__ import annotations

import datetime as dt
import logging
import time
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.db.models import OutboundMail, PatchResult, Series, utcnow
from bot.db.session import session_scope
from bot.records import OutgoingMail
from bot.report import delivery, undelivered
from bot.report.transport import (
    MailTransport,
    OutcomeUnknown,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
)
from bot.settings import Settings

log = logging.getLogger("seriesbot.outbox")


def queue_mail(session: Session, mail: OutgoingMail, *, run_id: int | None, series_id: int | None,
               dry_run: bool = False) -> bool:
    """Add the mail unless its key is already there. Returns True when it was added."""
    if session.scalar(select(OutboundMail.id).where(OutboundMail.key == mail.key)) is not None:
        return False
    headers = dict(mail.headers)
    if mail.in_reply_to:
        headers["In-Reply-To"] = f"<{mail.in_reply_to}>"
    if mail.references:
        headers["References"] = " ".join(f"<{r}>" for r in mail.references[-30:])
    row = OutboundMail(key=mail.key, kind=mail.kind, run_id=run_id, series_id=series_id, message_id=mail.message_id,
                       to=list(mail.to), cc=list(mail.cc), subject=mail.subject, headers=headers, body=mail.body,
                       state="dry-run" if dry_run else "pending")
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def build_message(row: OutboundMail, settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((settings.bot_name, settings.bot_address))
    msg["To"] = ", ".join(row.to)
    if row.cc:
        msg["Cc"] = ", ".join(row.cc)
    msg["Subject"] = row.subject
    msg["Message-ID"] = f"<{row.message_id}>"
    msg["Date"] = format_datetime(row.created_at.replace(tzinfo=dt.UTC))
    for name, value in row.headers.items():
        msg[name] = value
    msg.set_content(row.body, cte="quoted-printable" if not row.body.isascii() else "7bit")
    return msg


def _backoff(settings: Settings, attempts: int) -> dt.timedelta:
    cfg = settings.smtp_out
    return dt.timedelta(seconds=min(cfg.retry_max_seconds, cfg.retry_base_seconds * (2 ** max(attempts - 1, 0))))


def _may_claim() -> ColumnElement[bool]:
    """A run's summary waits until none of its patch replies is still to be sent (or still to be
    written: a result not yet reported): after a relay outage the replies' backoff would otherwise
    let the summary reach the list first."""
    reply = aliased(OutboundMail)
    unsent = exists(select(reply.id).where(reply.run_id == OutboundMail.run_id, reply.kind == "patch-reply",
                                           reply.state.in_(("pending", "sending"))))
    unwritten = exists(select(PatchResult.id).where(PatchResult.run_id == OutboundMail.run_id,
                                                    PatchResult.reported.is_(False)))
    return or_(OutboundMail.kind != "summary", OutboundMail.run_id.is_(None), ~or_(unsent, unwritten))


def _fail(session: Session, settings: Settings, row: OutboundMail, error: str) -> None:
    row.state, row.last_error, row.failed_at = "failed", error[:2000], utcnow()
    log.error("event=mail-failed key=%s attempts=%d error=%s", row.key, row.attempts, error)
    alert = undelivered.alert(row, settings)
    if alert is not None:
        queue_mail(session, alert, run_id=row.run_id, series_id=row.series_id)


def _inbox_url(session: Session, settings: Settings, row: OutboundMail) -> str:
    project = session.scalar(select(Series.project).where(Series.id == row.series_id)) if row.series_id else None
    conf = settings.projects.get(project) if project else None
    return conf.inbox_url if conf else ""


def _found_on_archive(session: Session, settings: Settings, row: OutboundMail) -> bool:
    """Before sending again what may already be on the list: the list archive, where there is one."""
    if not delivery.on_list_archive(_inbox_url(session, settings, row), row.message_id):
        return False
    row.state, row.sent_at = "sent", utcnow()
    row.last_error = "the outcome of a send was unknown; found on the list archive, not sent again"
    log.info("event=mail-found-on-archive key=%s msgid=%s", row.key, row.message_id)
    return True


def _unknown_outcome(session: Session, settings: Settings, row: OutboundMail, why: str, wait: float) -> str:
    """The relay may have the mail. It is sent again once, with the same Message-ID, after `wait`
    seconds and a look at the list archive; a second unknown outcome is left to a human (`seriesbot
    outbox retry`) unless the archive has it."""
    row.unknown_outcomes += 1
    if row.unknown_outcomes > 1:
        if _found_on_archive(session, settings, row):
            return "sent"
        _fail(session, settings, row, f"{why}, for the second time: not sent again (it may have reached the list)")
        return "failed"
    row.state, row.next_attempt_at = "pending", utcnow() + dt.timedelta(seconds=wait)
    row.last_error = f"{why}; to be looked up on the list archive, then sent once more"
    log.warning("event=mail-outcome-unknown key=%s msgid=%s why=%s", row.key, row.message_id, why)
    return "retry"


def deliver_pending(settings: Settings, transport: MailTransport | None = None, limit: int = 100,
                    budget_seconds: float = 120.0) -> dict[str, int]:
    """Send every due row once. Returns counts by outcome. Safe to run concurrently: a row is
    claimed (pending -> sending) by one sender before it is sent. Stops claiming once
    `budget_seconds` have passed, so a slow relay cannot outlast the task's time limit."""
    transport = transport or SmtpTransport(settings.smtp_out)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    started = time.monotonic()
    now = utcnow()
    stale = now - dt.timedelta(seconds=settings.smtp_out.stale_after_seconds)
    with session_scope(settings.database_url) as session:
        lost = session.scalars(select(OutboundMail.id).where(OutboundMail.state == "sending",
                                                             OutboundMail.claimed_at < stale).limit(limit)).all()
    for mail_id in lost:
        # a sender that died mid-send leaves a 'sending' row: whether the relay kept the mail is unknown.
        # Taking it over is one conditional update, so two senders never both resolve it.
        with session_scope(settings.database_url) as session:
            if not session.execute(update(OutboundMail).where(
                    OutboundMail.id == mail_id, OutboundMail.state == "sending", OutboundMail.claimed_at < stale)
                    .values(claimed_at=utcnow()).execution_options(synchronize_session=False)).rowcount:
                continue
            row = session.get(OutboundMail, mail_id)
            assert row is not None
            # it has waited the whole stale window already: look it up and resend at once
            counts[_unknown_outcome(session, settings, row, "its sender stopped during the send", 0)] += 1
    with session_scope(settings.database_url) as session:
        ids = session.scalars(select(OutboundMail.id).where(
            OutboundMail.state == "pending", or_(OutboundMail.next_attempt_at <= utcnow(),
                                                 OutboundMail.next_attempt_at.is_(None)))
            .order_by(OutboundMail.id).limit(limit)).all()
    for mail_id in ids:
        if time.monotonic() - started > budget_seconds:
            break
        with session_scope(settings.database_url) as session:
            claimed = session.execute(update(OutboundMail).where(OutboundMail.id == mail_id,
                                                                 OutboundMail.state == "pending", _may_claim())
                                      .values(state="sending", claimed_at=utcnow(),
                                              attempts=OutboundMail.attempts + 1)
                                      .execution_options(synchronize_session=False)).rowcount
            if not claimed:
                continue
        with session_scope(settings.database_url) as session:
            row = session.get(OutboundMail, mail_id)
            assert row is not None
            if row.unknown_outcomes and _found_on_archive(session, settings, row):
                row.attempts -= 1  # nothing was sent this time
                counts["sent"] += 1
                continue
            message = build_message(row, settings)
            recipients = [*row.to, *row.cc]  # attempts was counted with the claim: a crash mid-send counts too
            try:
                transport.send(message, settings.bot_address, recipients)
            except PermanentFailure as exc:
                _fail(session, settings, row, str(exc))
                counts["failed"] += 1
            except OutcomeUnknown as exc:
                # give the list time to archive it before the look-up
                counts[_unknown_outcome(session, settings, row, str(exc), 4 * settings.smtp_out.timeout)] += 1
            except TemporaryFailure as exc:
                row.last_error = str(exc)[:2000]
                if row.attempts >= settings.smtp_out.max_attempts:
                    _fail(session, settings, row, f"{row.attempts} attempts, the last: {exc}")
                    counts["failed"] += 1
                else:
                    row.state = "pending"
                    row.next_attempt_at = utcnow() + _backoff(settings, row.attempts)
                    counts["retry"] += 1
                    log.warning("event=mail-retry key=%s attempts=%d error=%s", row.key, row.attempts, exc)
            else:
                row.state, row.sent_at, row.last_error = "sent", utcnow(), ""
                counts["sent"] += 1
                log.info("event=mail-sent key=%s to=%s", row.key, recipients)
    return counts


def retry_failed(settings: Settings, selectors: list[str]) -> list[str]:
    """Give failed rows (by id or key; none given: every failed row) a fresh start. Returns their keys."""
    with session_scope(settings.database_url) as session:
        query = select(OutboundMail).where(OutboundMail.state == "failed")
        if selectors:
            ids = [int(s) for s in selectors if s.isdigit() and int(s) < 2**31]
            query = query.where(or_(OutboundMail.key.in_(selectors), OutboundMail.id.in_(ids)))
        rows = list(session.scalars(query.order_by(OutboundMail.id)))
        for row in rows:
            row.state, row.attempts, row.unknown_outcomes, row.next_attempt_at = "pending", 0, 0, utcnow()
            row.failed_at = None
            log.info("event=mail-retry-requested key=%s", row.key)
        return [row.key for row in rows]


def list_mail(settings: Settings, state: str | None, limit: int = 50) -> list[OutboundMail]:
    """Newest first; detached rows for printing."""
    with session_scope(settings.database_url) as session:
        query = select(OutboundMail).order_by(OutboundMail.id.desc()).limit(limit)
        if state:
            query = query.where(OutboundMail.state == state)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def next_due(settings: Settings) -> dt.datetime | None:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(OutboundMail.next_attempt_at).where(OutboundMail.state == "pending")
                              .order_by(OutboundMail.next_attempt_at).limit(1))
