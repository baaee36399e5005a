"""Did a mail reach the list? Asked when the outcome of a send is unknown (its sender died, or the
connection broke after the relay had the message text), before sending it again: the project's
public-inbox archive answers `<inbox_url>/<Message-ID>/raw` with 200 when it holds the message and
404 when not. Anything else (no archive configured, the archive away) is "cannot tell"."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

log = logging.getLogger("seriesbot.outbox")
LOOKUP_TIMEOUT = 10.0


def raw_url(inbox_url: str, message_id: str) -> str:
    """public-inbox's address of a message: the Message-ID without <>, '/' escaped (as public-inbox does)."""
    return f"{inbox_url.rstrip('/')}/{quote(message_id.strip('<>'), safe='@!$&*+=,;:~')}/raw"


def on_list_archive(inbox_url: str, message_id: str, client: httpx.Client | None = None) -> bool | None:
    """True when the archive holds the message, False when it answers that it does not, None when
    it cannot be asked."""
    if not inbox_url:
        return None
    url = raw_url(inbox_url, message_id)
    try:
        if client is not None:
            response = client.get(url, timeout=LOOKUP_TIMEOUT)
        else:
            response = httpx.get(url, timeout=LOOKUP_TIMEOUT, follow_redirects=True)
    except httpx.HTTPError as exc:
        log.warning("event=archive-lookup-failed msgid=%s url=%s error=%r", message_id, url, exc)
        return None
    if response.status_code == 200:
        return True
    if response.status_code == 404:
        return False
    log.warning("event=archive-lookup-failed msgid=%s url=%s status=%d", message_id, url, response.status_code)
    return None
