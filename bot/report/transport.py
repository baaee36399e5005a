"""MailTransport: SMTP to the configured relay (STARTTLS and login when configured)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from bot.settings import SmtpOut


class TemporaryFailure(Exception):
    """Try again later: the relay is down, busy, or answered 4xx."""


class PermanentFailure(Exception):
    """Will never work as is: the relay answered 5xx for the message or every recipient."""


class MailTransport(Protocol):
    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None: ...


class SmtpTransport:
    def __init__(self, cfg: SmtpOut) -> None:
        self.cfg = cfg

    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        try:
            with smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout) as smtp:
                smtp.ehlo()
                if self.cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.cfg.user:
                    smtp.login(self.cfg.user, self.cfg.password)
                refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            if all(500 <= c < 600 for c in codes):
                raise PermanentFailure(f"every recipient refused: {exc.recipients}") from exc
            raise TemporaryFailure(str(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (552,):
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise TemporaryFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(repr(exc)) from exc
        if refused and len(refused) == len(recipients):
            raise TemporaryFailure(f"refused: {refused}")
