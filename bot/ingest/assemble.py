"""Pure: where does one parsed patch or cover letter go? A decision over a snapshot of the
candidate series; bot.ingest.ingest loads the snapshot and persists the decision."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from bot.records import ParsedMail

UNTHREADED_WINDOW = dt.timedelta(hours=12)


@dataclass(frozen=True)
class SeriesView:
    id: int
    version: int
    total: int
    author_email: str
    norm_title: str
    cover_msgid: str | None
    thread_root: str | None
    patch_msgids: dict[str, int]  # Message-ID -> index
    state: str
    created_at: dt.datetime

    @property
    def indexes(self) -> set[int]:
        return set(self.patch_msgids.values())


@dataclass(frozen=True)
class Decision:
    action: str  # "join" | "new" | "duplicate"
    series_id: int | None = None
    thread_root: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Completion:
    complete: bool
    missing: tuple[int, ...] = field(default_factory=tuple)


def normalise_title(title: str) -> str:
    title = re.sub(r"\s+", " ", title.lower()).strip()
    return title.rstrip(".")


def thread_root_of(mail: ParsedMail) -> str:
    """The Message-ID a series hangs from: what the mail replies to, else the mail itself."""
    if mail.in_reply_to:
        return mail.in_reply_to
    if mail.references:
        return mail.references[-1]
    return mail.message_id


def decide(mail: ParsedMail, candidates: list[SeriesView], now: dt.datetime) -> Decision:
    """Join an existing series, or start a new one. `candidates` are the project's series that
    share a thread id with the mail, plus the author's recent unfinished series."""
    info = mail.subject_info
    ids = set(mail.thread_ids)
    same_version = [s for s in candidates if s.version == info.version and s.total == info.total]
    for series in same_version:
        if mail.message_id in series.patch_msgids or mail.message_id == series.cover_msgid:
            return Decision("duplicate", series.id, reason="already part of this series")
    if info.is_cover:
        for series in same_version:
            if series.cover_msgid is None and (
                series.thread_root == mail.message_id or series.thread_root in ids and series.author_email == mail.from_email
            ):
                return Decision("join", series.id, reason="cover letter of patches that arrived first")
        return Decision("new", thread_root=mail.message_id, reason="cover letter")
    free = [s for s in same_version if info.counter not in s.indexes]
    # 1. replies to the series' cover letter (shallow threading)
    for series in free:
        if series.cover_msgid and series.cover_msgid in ids:
            return Decision("join", series.id, reason="replies to the cover letter")
    # 2. replies to one of its patches (deep threading, or no cover letter)
    for series in free:
        if ids & set(series.patch_msgids) and series.author_email == mail.from_email:
            return Decision("join", series.id, reason="replies to a patch of the series")
    # 3. shares the thread root (cover not here yet), or others already replied to this mail
    for series in free:
        if series.author_email == mail.from_email and (
            (series.thread_root and series.thread_root in ids) or series.thread_root == mail.message_id
        ):
            return Decision("join", series.id, reason="same thread")
    # 4. unthreaded series (git send-email --no-thread): same author, version, total, recent
    if not ids and info.total > 1:
        for series in free:
            if (
                series.author_email == mail.from_email
                and series.state == "partial"
                and not series.cover_msgid
                and now - series.created_at < UNTHREADED_WINDOW
            ):
                return Decision("join", series.id, reason="unthreaded, same author, version and length")
    return Decision("new", thread_root=thread_root_of(mail) if info.total > 1 else mail.message_id,
                    reason="first mail of a series")


def completion(total: int, indexes: set[int]) -> Completion:
    missing = tuple(i for i in range(1, total + 1) if i not in indexes)
    return Completion(not missing, missing)
