"""A local SMTP relay (aiosmtpd on loopback) for outbox tests: it keeps every message it is given
(before it answers, as a real relay that has queued the mail), may hold its final reply for a while,
and answers with a chosen reply. Counts what it received; `on_receive` may pass each message on
(to a list archive, as a list server would)."""

from __future__ import annotations

import asyncio
import email
import threading
from collections.abc import Callable
from email.message import Message

from aiosmtpd.controller import Controller

from tests.helpers import free_port


class Relay:
    def __init__(self, hold: float = 0.0, reply: str = "250 OK",
                 on_receive: Callable[[bytes], None] | None = None) -> None:
        self.hold = hold
        self.on_receive = on_receive
        self.reply = reply
        self.lock = threading.Lock()
        self.received: list[tuple[list[str], Message]] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001 (aiosmtpd's handler hook)
        if self.reply.startswith("250"):
            with self.lock:
                self.received.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
            if self.on_receive is not None:
                await asyncio.to_thread(self.on_receive, envelope.content)
        if self.hold:
            await asyncio.sleep(self.hold)
        return self.reply

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for _rcpt, m in self.received]

    def __enter__(self) -> Relay:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()
