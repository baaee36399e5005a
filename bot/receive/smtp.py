"""The SMTP/LMTP front: refuse what is not for us at RCPT time, store what is, answer 250 only
after the commit. A database that cannot be reached is a 451 (the list server retries), never a
250 for a mail we did not keep."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.receive.store import store_message
from bot.settings import Settings

log = logging.getLogger("seriesbot.smtp")


class SeriesbotHandler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.accepting = True
        local = {settings.bot_address.lower(), f"postmaster@{settings.bot_address.split('@')[-1]}".lower()}
        self.recipients = local | {p.list_address.lower() for p in settings.projects.values()}

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if not self.accepting:
            return "421 4.3.2 seriesbot is shutting down, try again later"
        peers = self.settings.smtp_in.accept_peers
        if peers and session.peer and session.peer[0] not in peers:
            return f"550 5.7.1 {session.peer[0]} is not a configured list server for this bot"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        local, _, domain = address.lower().partition("@")
        bot_local, _, bot_domain = self.settings.bot_address.lower().partition("@")
        plus = domain == bot_domain and local.startswith(bot_local + "+")  # bot+<project>@: private testing
        if address.lower() not in self.recipients and not plus:
            return f"550 5.1.1 <{address}>: no such recipient here (not a list this bot serves)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        loop = asyncio.get_running_loop()
        store = partial(
            store_message,
            raw,
            self.settings,
            source="lmtp" if self.settings.smtp_in.lmtp else "smtp",
            envelope_from=envelope.mail_from or "",
            envelope_to=list(envelope.rcpt_tos),
        )
        try:
            outcome = await loop.run_in_executor(None, store)
        except Exception as exc:
            log.error("event=store-failed peer=%s error=%r", session.peer, exc)
            return "451 4.3.0 could not store the message right now, please try again later"
        if not outcome.created:
            return f"250 2.0.0 OK: already have <{outcome.message_id}>"
        return f"250 2.0.0 OK: stored <{outcome.message_id}>"


class _LenientSMTP(SMTP):
    # RFC 5321 caps lines at 1000 octets, but mail that clients and lists really send can be longer;
    # we keep it (store first, judge later) rather than refuse it.
    line_length_limit = 1 << 20


class _LenientLMTP(LMTP):
    line_length_limit = 1 << 20


class _Controller(Controller):
    def __init__(self, handler: Any, settings: Settings, **kwargs: Any) -> None:
        self._lmtp = settings.smtp_in.lmtp
        super().__init__(
            handler,
            hostname=settings.smtp_in.host,
            port=settings.smtp_in.port,
            data_size_limit=settings.smtp_in.max_message_size,
            enable_SMTPUTF8=True,
            ident="seriesbot",
            **kwargs,
        )

    def factory(self) -> SMTP:
        cls = _LenientLMTP if self._lmtp else _LenientSMTP
        return cls(self.handler, **self.SMTP_kwargs)


def start_smtp(settings: Settings) -> tuple[Controller, SeriesbotHandler]:
    handler = SeriesbotHandler(settings)
    controller = _Controller(handler, settings)
    controller.start()
    log.info("event=smtp-listening host=%s port=%d lmtp=%s", settings.smtp_in.host, settings.smtp_in.port,
             settings.smtp_in.lmtp)
    return controller, handler
