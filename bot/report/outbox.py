"""The outbox: every mail the bot sends is a row first (unique key per run, patch and kind), then
a sender delivers due rows with retries and exponential backoff. A crash between render and send
loses nothing; a retry of the render is a no-op."""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import OutboundMail, utcnow
from bot.db.session import session_scope
from bot.records import OutgoingMail
from bot.report.transport import MailTransport, PermanentFailure, SmtpTransport, TemporaryFailure
from bot.settings import Settings

log = logging.getLogger("seriesbot.outbox")
SENDING_TIMEOUT = dt.timedelta(minutes=5)


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


def deliver_pending(settings: Settings, transport: MailTransport | None = None, limit: int = 100) -> dict[str, int]:
    """Send every due row once. Returns counts by outcome. Safe to run concurrently: a row is
    claimed (pending -> sending) by one sender before it is sent."""
    transport = transport or SmtpTransport(settings.smtp_out)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    now = utcnow()
    with session_scope(settings.database_url) as session:
        # a sender that died mid-send leaves 'sending' rows: give them back after a while
        session.execute(update(OutboundMail).where(OutboundMail.state == "sending",
                                                   OutboundMail.claimed_at < now - SENDING_TIMEOUT)
                        .values(state="pending"))
        ids = session.scalars(select(OutboundMail.id).where(
            OutboundMail.state == "pending", or_(OutboundMail.next_attempt_at <= now,
                                                 OutboundMail.next_attempt_at.is_(None)))
            .order_by(OutboundMail.id).limit(limit)).all()
    for mail_id in ids:
        with session_scope(settings.database_url) as session:
            claimed = session.execute(update(OutboundMail).where(OutboundMail.id == mail_id,
                                                                 OutboundMail.state == "pending")
                                      .values(state="sending", claimed_at=utcnow())).rowcount
            if not claimed:
                continue
        with session_scope(settings.database_url) as session:
            row = session.get(OutboundMail, mail_id)
            assert row is not None
            message = build_message(row, settings)
            recipients = [*row.to, *row.cc]
            row.attempts += 1
            try:
                transport.send(message, settings.bot_address, recipients)
            except PermanentFailure as exc:
                row.state, row.last_error = "failed", str(exc)[:2000]
                counts["failed"] += 1
                log.error("event=mail-failed key=%s error=%s", row.key, exc)
            except TemporaryFailure as exc:
                row.last_error = str(exc)[:2000]
                if row.attempts >= settings.smtp_out.max_attempts:
                    row.state = "failed"
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


def next_due(settings: Settings) -> dt.datetime | None:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(OutboundMail.next_attempt_at).where(OutboundMail.state == "pending")
                              .order_by(OutboundMail.next_attempt_at).limit(1))
