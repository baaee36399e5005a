"""A tiny stand-in for the list server, for the demo and the tests: an aiosmtpd relay that keeps
every mail it receives (in memory and in an mbox file) and, like a real list, can deliver mail
addressed to the list back to its subscribers (the bot), stamped with the List-Id."""

from __future__ import annotations

import email
import email.policy
import mailbox
import smtplib
import threading
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class ListServerState:
    received: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "421 4.3.2 try later": answered to every MAIL FROM
    lock: threading.Lock = field(default_factory=threading.Lock)


class ListServerHandler:
    def __init__(self, state: ListServerState, mbox_path: Path | None = None, list_address: str | None = None,
                 list_id: str | None = None, forward_to: tuple[str, int] | None = None) -> None:
        self.state = state
        self.mbox_path = mbox_path
        self.list_address = (list_address or "").lower()
        self.list_id = list_id
        self.forward_to = forward_to

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if self.state.refuse_with:
            return self.state.refuse_with
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        with self.state.lock:
            self.state.received.append(msg)
            self.state.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
            if self.mbox_path:
                self.mbox_path.parent.mkdir(parents=True, exist_ok=True)
                box = mailbox.mbox(str(self.mbox_path))
                box.add(msg)
                box.flush()
                box.close()
        if self.forward_to and self.list_address in [r.lower() for r in envelope.rcpt_tos]:
            if "List-Id" not in msg and self.list_id:
                raw = f"List-Id: <{self.list_id}>\r\n".encode() + raw
            try:
                with smtplib.SMTP(*self.forward_to, timeout=30) as smtp:
                    smtp.sendmail(envelope.mail_from or "", [self.list_address], raw)
            except (OSError, smtplib.SMTPException):
                pass  # a list server would retry; the demo only echoes
        return "250 OK: queued"


def start_list_server(host: str, port: int, **kwargs: object) -> tuple[Controller, ListServerState]:
    state = ListServerState()
    handler = ListServerHandler(state, **kwargs)  # type: ignore[arg-type]
    controller = Controller(handler, hostname=host, port=port, data_size_limit=50 * 1024 * 1024)
    controller.start()
    return controller, state
