"""Other ways in, same path: an mbox file or a maildir, and a whole thread fetched from a
public-inbox server (lore.kernel.org serves `<base>/<msgid>/t.mbox.gz`). Every message goes through
store_message, then is ingested inline; importing twice stores nothing twice.

Imported mail is history by default: it builds the dashboard's series, versions and trailers, but
starts no run, sends no mail and executes no command, unless asked (`test=True`, or `since`: mail
dated from then on is treated as new)."""

from __future__ import annotations

import datetime as dt
import gzip
import mailbox
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
from sqlalchemy import select

from bot.db.models import Message
from bot.db.session import session_scope
from bot.ingest.ingest import flush_pending, ingest_row
from bot.ingest.regroup import Pending
from bot.receive.store import header_msgid, new_message_row
from bot.settings import ProjectSettings, Settings

_MBOX_FROM_RE = re.compile(rb"^From \S+.*$", re.M)


@dataclass
class ImportReport:
    seen: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def _raw_messages(path: Path) -> Iterator[bytes]:
    if path.is_dir():
        box: mailbox.Mailbox = mailbox.Maildir(str(path), factory=None, create=False)
        for key in box.iterkeys():
            with box.get_file(key) as f:
                yield f.read()
        return
    yield from split_mbox(path.read_bytes())


def split_mbox(data: bytes) -> Iterator[bytes]:
    """Messages of an mbox (mboxrd quoting undone), without loading them into email objects."""
    starts = [m.start() for m in _MBOX_FROM_RE.finditer(data) if m.start() == 0 or data[m.start() - 1:m.start()] == b"\n"]
    if not starts:
        if data.strip():
            yield data
        return
    for begin, end in zip(starts, [*starts[1:], len(data)], strict=True):
        chunk = data[begin:end]
        chunk = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""
        yield re.sub(rb"(?m)^>(>*From )", rb"\1", chunk)


@dataclass(frozen=True)
class HistoryPolicy:
    """Which imported mail is history (recorded, never run or mailed): all of it, unless `test`,
    or only what is dated before `since`."""

    test: bool = False
    since: dt.datetime | None = None  # naive UTC

    def is_history(self, raw: bytes) -> bool:
        if self.test:
            return False
        if self.since is None:
            return True
        sent = _date_of(raw)
        return sent is None or sent < self.since


def _date_of(raw: bytes) -> dt.datetime | None:
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(raw).get("Date")
        sent = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if sent is not None and sent.tzinfo is not None:
        sent = sent.astimezone(dt.UTC).replace(tzinfo=None)
    return sent


def import_messages(raws: Iterable[bytes], settings: Settings, *, source: str, envelope_to: list[str] | None = None,
                    total: int | None = None, progress: bool = False, batch: int = 200,
                    policy: HistoryPolicy | None = None) -> ImportReport:
    """Store and ingest in batches: one transaction per batch, a savepoint per message, so a
    message that crashes ingest is marked 'error' and the rest of the batch still lands. Each
    batch's threads are re-grouped once, at its end."""
    policy = policy or HistoryPolicy()
    report = ImportReport()
    bar = _progress(total) if progress else None
    pending: list[bytes] = []
    for raw in raws:
        pending.append(raw)
        if len(pending) >= batch:
            _import_batch(pending, settings, source, envelope_to, report, policy)
            if bar:
                bar.update(len(pending))
            pending = []
    if pending:
        _import_batch(pending, settings, source, envelope_to, report, policy)
        if bar:
            bar.update(len(pending))
    if bar:
        bar.close()
    return report


def _import_batch(raws: list[bytes], settings: Settings, source: str, envelope_to: list[str] | None,
                  report: ImportReport, policy: HistoryPolicy) -> None:
    limit = settings.smtp_in.max_message_size
    ids = [header_msgid(raw) for raw in raws]
    later = Pending()
    with session_scope(settings.database_url) as session:
        seen = set(session.scalars(select(Message.message_id).where(Message.message_id.in_(ids))))
        for raw, msgid in zip(raws, ids, strict=True):
            report.seen += 1
            if msgid in seen:
                report.duplicates += 1
                continue
            seen.add(msgid)
            if len(raw) > limit:
                # kept as a clear row (headers and the start), never silently dropped
                session.add(new_message_row(raw[:65536], settings, source=source, envelope_to=envelope_to,
                                            status="rejected", message_id=msgid,
                                            reason=f"over the size limit: {len(raw)} bytes > {limit}"))
                report.rejected += 1
                continue
            row = new_message_row(raw, settings, source=source, envelope_to=envelope_to, message_id=msgid,
                                  history=policy.is_history(raw))
            session.add(row)
            session.flush()
            report.stored += 1
            try:
                with session.begin_nested():
                    status = ingest_row(session, settings, row, pending=later)
            except Exception as exc:
                status, row.status, row.reason = "error", "error", f"ingest crashed: {exc!r}"[:2000]
            report.statuses[status] = report.statuses.get(status, 0) + 1
        flush_pending(session, settings, later)


def _progress(total: int | None):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, unit="msg", file=sys.stderr, disable=not sys.stderr.isatty())


def import_mbox(path: Path, settings: Settings, *, project: ProjectSettings | None = None,
                progress: bool = False, policy: HistoryPolicy | None = None) -> ImportReport:
    raws = list(_raw_messages(path))
    return import_messages(raws, settings, source="mbox", total=len(raws), progress=progress,
                           envelope_to=[project.list_address] if project else None, policy=policy)


def thread_url(base: str, msgid_or_url: str) -> tuple[str, str]:
    """(t.mbox.gz URL, message-id) for a Message-ID or a public-inbox message URL."""
    value = msgid_or_url.strip()
    if "://" in value:
        m = re.match(r"^(https?://[^/]+(?:/[^/]+)*?)/([^/]+@[^/]+?)(?:/.*)?$", value)
        if not m:
            raise ValueError(f"not a public-inbox message URL: {value}")
        base, msgid = m.group(1), unquote(m.group(2))
    else:
        msgid = value.strip("<>")
        if not base:
            raise ValueError("the project has no lore_url: give a full message URL")
    if not re.fullmatch(r"[^\s<>/]+@[^\s<>/]+", msgid):
        raise ValueError(f"not a Message-ID: {msgid!r}")
    return f"{base.rstrip('/')}/{quote(msgid, safe='@+=')}/t.mbox.gz", msgid


def import_lore(project: ProjectSettings, msgid_or_url: str, settings: Settings, *,
                client: httpx.Client | None = None, policy: HistoryPolicy | None = None) -> ImportReport:
    url, _msgid = thread_url(project.lore_url, msgid_or_url)
    own = client is None
    client = client or httpx.Client(timeout=60, follow_redirects=True)
    try:
        response = client.get(url)
        response.raise_for_status()
    finally:
        if own:
            client.close()
    data = response.content
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return import_messages(list(split_mbox(data)), settings, source="lore", envelope_to=[project.list_address],
                           policy=policy)
