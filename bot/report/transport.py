"""MailTransport: SMTP to the configured relay (STARTTLS and login when configured). Commands wait
`timeout`; the final reply to the message text waits `data_timeout` (RFC 5321 4.5.3.2.6: ten
minutes), and a connection lost once the relay has the text is an unknown outcome, not a failure."""

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


class OutcomeUnknown(TemporaryFailure):
    """The relay had the whole message when the connection broke or timed out: it may have kept it."""


class MailTransport(Protocol):
    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None: ...


class _SMTP(smtplib.SMTP):
    """smtplib.SMTP with a longer wait for the reply to DATA's text, and a mark once DATA's 354 came."""

    def __init__(self, host: str, port: int, timeout: float, data_timeout: float) -> None:
        self.data_timeout = data_timeout
        self.text_sent = False
        super().__init__(host, port, timeout=timeout)

    def getreply(self) -> tuple[int, bytes]:
        reply = super().getreply()
        if self._in_data and self.text_sent:
            self.final_reply = reply
        elif self._in_data and reply[0] == 354:
            self.text_sent = True  # from here on the relay may end up with the message
            if self.sock is not None:
                self.sock.settimeout(self.data_timeout)
        return reply

    def data(self, msg):  # type: ignore[no-untyped-def]
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False
            if self.sock is not None:
                self.sock.settimeout(self.timeout)

    @property
    def outcome_unknown(self) -> bool:
        return self.text_sent and self.final_reply is None

    _in_data = False
    final_reply: tuple[int, bytes] | None = None


class SmtpTransport:
    def __init__(self, cfg: SmtpOut) -> None:
        self.cfg = cfg

    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        smtp: _SMTP | None = None
        try:
            smtp = _SMTP(self.cfg.host, self.cfg.port, self.cfg.timeout, self.cfg.data_timeout)
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
            if smtp is not None and smtp.outcome_unknown:
                raise OutcomeUnknown(f"no final reply to the message text: {exc!r}") from exc
            raise TemporaryFailure(repr(exc)) from exc
        else:
            _quit(smtp)
        finally:
            if smtp is not None:
                smtp.close()
        if refused and len(refused) == len(recipients):
            raise TemporaryFailure(f"refused: {refused}")


def _quit(smtp: smtplib.SMTP) -> None:
    """QUIT politely; once the relay has answered for the message, how QUIT goes changes nothing."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
