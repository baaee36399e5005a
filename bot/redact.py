"""The last filter: the bot's own secrets never leave in a log, a mail or a stored result.

Steps never see a secret (their environment is built from scratch and the sandbox hides the data
directory); this is defence in depth for what slips through anyway (a secret in an error message,
a log line, a test that found a way). The secrets are the settings' own: SMTP relay password, the
web secret (from the environment or its file) and maintainers' login tokens, Patchwork tokens,
and the passwords in the database and broker URLs. Applied where text is stored or served: step
logs as they are written (streaming, so a secret split across two reads is still caught), every
row that holds text from a step or meant for mail (a flush hook on every session), and log pages
as the dashboard serves them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

REDACTED = "[redacted]"
MIN_LENGTH = 4  # shorter "secrets" would blank ordinary words; settings refuse tokens under 8


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if s and len(s) >= MIN_LENGTH}
        self.secrets = tuple(sorted(found, key=len, reverse=True))  # longest first: no partial leftovers
        self.max_len = max((len(s.encode()) for s in self.secrets), default=0)
        self._text = re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None
        self._bytes = re.compile(b"|".join(re.escape(s.encode()) for s in self.secrets)) if self.secrets else None

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, value: str) -> str:
        return self._text.sub(REDACTED, value) if self._text is not None else value

    def data(self, value: bytes) -> bytes:
        return self._bytes.sub(REDACTED.encode(), value) if self._bytes is not None else value

    def value(self, value: Any) -> Any:
        """Strings anywhere inside JSON-like data (dicts, lists) redacted; the rest unchanged."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


class StreamRedactor:
    """Redacts a byte stream read in chunks: it holds back just enough bytes (the longest secret
    less one) that a secret split across two chunks is still found whole."""

    def __init__(self, redactor: Redactor) -> None:
        self.pattern = redactor._bytes
        self.keep = max(redactor.max_len - 1, 0)
        self.carry = b""

    def feed(self, chunk: bytes) -> bytes:
        if self.pattern is None:
            return chunk
        data = self.carry + chunk
        cut = max(len(data) - self.keep, 0)
        out: list[bytes] = []
        pos = 0
        for m in self.pattern.finditer(data):
            if m.start() >= cut:
                break
            out += [data[pos:m.start()], REDACTED.encode()]
            pos = m.end()
        cut = max(cut, pos)
        out.append(data[pos:cut])
        self.carry = data[cut:]
        return b"".join(out)

    def flush(self) -> bytes:
        rest, self.carry = self.carry, b""
        return self.pattern.sub(REDACTED.encode(), rest) if self.pattern is not None else rest


def _url_password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


def secrets_of(settings: Any) -> list[str]:
    """Every secret the settings hold (what this process could leak)."""
    found = [settings.smtp_out.password, settings.web.secret_key, *settings.web.logins.values(),
             _url_password(settings.database_url), _url_password(settings.broker_url)]
    found += [p.patchwork_token for p in settings.projects.values()]
    secret_file = Path(settings.data_dir) / "web-secret"
    try:
        found.append(secret_file.read_text().strip())
    except OSError:
        pass
    return [s for s in found if s]


_current = Redactor(())
_settings: Any = None
_file_seen = False
_installed = False


def current() -> Redactor:
    """This process's redactor. The web secret file may be made after we started (by the web
    process): until it has been read, look for it again now and then."""
    global _current, _file_seen
    if _settings is not None and not _file_seen and (Path(_settings.data_dir) / "web-secret").exists():
        _current, _file_seen = Redactor(secrets_of(_settings)), True
    return _current


def configure(settings: Any) -> Redactor:
    """Called by every command at start: this process's secrets, and the flush hook."""
    global _current, _settings, _file_seen
    _settings = settings
    _current = Redactor(secrets_of(settings))
    _file_seen = (Path(settings.data_dir) / "web-secret").exists()
    _install()
    return _current


# Text columns that hold what a step printed or what will be mailed or shown.
SCRUBBED = {
    "OutboundMail": ("subject", "body", "headers", "last_error"),
    "PatchResult": ("details",),
    "FindingRow": ("message",),
    "Run": ("error",),
    "Baseline": ("build_errors",),
    "CommandRow": ("decision",),
}


def _scrub(session: Any, _context: Any, _instances: Any) -> None:
    redactor = current()
    if not redactor:
        return
    for obj in (*session.new, *session.dirty):
        for attr in SCRUBBED.get(type(obj).__name__, ()):
            value = getattr(obj, attr, None)
            if value is None:
                continue
            clean = redactor.value(value)
            if clean != value:
                setattr(obj, attr, clean)


def _install() -> None:
    global _installed
    if _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    event.listen(Session, "before_flush", _scrub)
    _installed = True
