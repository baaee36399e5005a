"""Shared test helpers: free ports, a mail builder, waiting for conditions, process stacks."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


def wait_port(port: int, timeout: float = 30.0) -> None:
    def up() -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(up, timeout, what=f"port {port}")


def make_mail(
    subject: str,
    *,
    msgid: str,
    sender: str = "Ada Lovelace <ada@example.org>",
    body: str = "",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    list_id: str | None = "devel.demo.seriesbot.test",
    headers: dict[str, str] | None = None,
    date: dt.datetime | None = None,
) -> bytes:
    lines = [f"From: {sender}", f"Subject: {subject}", f"Message-ID: <{msgid}>",
             f"Date: {format_datetime(date or dt.datetime(2026, 1, 2, tzinfo=dt.UTC))}", "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    if list_id:
        lines.append(f"List-Id: Demo list <{list_id}>")
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    refs = references if references is not None else ([in_reply_to] if in_reply_to else [])
    if refs:
        lines.append("References: " + " ".join(f"<{r}>" for r in refs))
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    return ("\n".join(lines) + "\n\n" + body).encode()


def patch_body(path: str = "src/a.c", old: str = "x", new: str = "y", message: str = "Change a thing.",
               signoff: str = "Ada Lovelace <ada@example.org>") -> str:
    return (f"{message}\n\nSigned-off-by: {signoff}\n---\n {path} | 2 +-\n 1 file changed\n\n"
            f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -1 +1 @@\n-{old}\n+{new}\n-- \n2.39.5\n")
