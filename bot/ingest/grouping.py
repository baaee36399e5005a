"""Pure: which series a set of mails makes. `group(facts)` is a function of the *set* of mails, never
of the order they arrived in, so re-running it over a thread each time a mail lands gives the same
series whatever came first (bot.ingest.regroup persists the result with stable series ids).

A patch belongs to the series whose head it hangs from: walking its References (nearest first), the
head is the first cover letter of the same author, version and total, or else the farthest mail of
the chain that is not known to be something else (a missing cover letter, the missing patch 1 of a
series without a cover). So siblings whose cover has not arrived yet already share a head: the
cover's Message-ID, which every one of them names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

UNTHREADED_WINDOW = dt.timedelta(hours=12)


@dataclass(frozen=True)
class MailFacts:
    """What assembly needs of one mail, stored as JSON on its Message row."""

    msgid: str
    kind: str  # "patch" | "cover" | "reply"
    author: str = ""
    version: int = 1
    counter: int = 1
    total: int = 1
    title: str = ""
    chain: tuple[str, ...] = ()  # References, then In-Reply-To when References lack it
    sent_at: dt.datetime | None = None
    trailers: tuple[tuple[str, str], ...] = ()
    change_id: str | None = None
    supersedes: tuple[str, ...] = ()
    is_resend: bool = False

    @property
    def parent(self) -> str | None:
        return self.chain[-1] if self.chain else None

    @property
    def series_key(self) -> tuple[str, int, int, bool]:
        return (self.author, self.version, self.total, self.is_resend)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "author": self.author, "version": self.version, "counter": self.counter,
                "total": self.total, "title": self.title, "chain": list(self.chain),
                "sent_at": self.sent_at.isoformat() if self.sent_at else None,
                "trailers": [list(t) for t in self.trailers], "change_id": self.change_id,
                "supersedes": list(self.supersedes), "is_resend": self.is_resend}

    @classmethod
    def from_json(cls, msgid: str, data: dict[str, object]) -> MailFacts:
        sent = data.get("sent_at")
        return cls(msgid=msgid, kind=str(data["kind"]), author=str(data.get("author", "")),
                   version=int(data.get("version", 1)), counter=int(data.get("counter", 1)),  # type: ignore[call-overload]
                   total=int(data.get("total", 1)), title=str(data.get("title", "")),  # type: ignore[call-overload]
                   chain=tuple(data.get("chain", ())),  # type: ignore[arg-type]
                   sent_at=dt.datetime.fromisoformat(sent) if isinstance(sent, str) else None,
                   trailers=tuple((str(a), str(b)) for a, b in data.get("trailers", ())),  # type: ignore[attr-defined]
                   change_id=data.get("change_id") or None,  # type: ignore[arg-type]
                   supersedes=tuple(data.get("supersedes", ())),  # type: ignore[arg-type]
                   is_resend=bool(data.get("is_resend", False)))


@dataclass(frozen=True)
class SeriesGroup:
    """One series as the set of mails makes it."""

    key: str  # stable while the series' head stays the same: "<head>|<author>|v<version>|<total>"
    head: str
    author: str
    version: int
    total: int
    cover: str | None
    patches: dict[int, str]  # counter -> Message-ID
    duplicates: tuple[str, ...]  # a second mail for a counter already taken (kept out of the series)
    title: str
    first_chain: tuple[str, ...]  # what the series' first mail (cover, else its lowest patch) replies to
    sent_at: dt.datetime | None
    change_id: str | None
    supersedes: tuple[str, ...]
    is_resend: bool
    trailers: dict[int, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)  # counter -> (name, value, from)
    replies: tuple[str, ...] = ()  # replies attached to the series (to a patch or to the cover)

    @property
    def members(self) -> tuple[str, ...]:
        return ((self.cover,) if self.cover else ()) + tuple(self.patches[i] for i in sorted(self.patches))

    @property
    def complete(self) -> bool:
        return self.total >= 1 and all(i in self.patches for i in range(1, self.total + 1))

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(i for i in range(1, self.total + 1) if i not in self.patches)


def head_of(mail: MailFacts, known: dict[str, MailFacts], _depth: int = 0) -> str:
    """The Message-ID the mail's series hangs from (see the module docstring). An earlier patch of
    the same series in the chain hands over its own head, so References cut short (a mail client
    that keeps only the parent) still lead to the top."""
    if mail.kind == "cover":
        return mail.msgid
    candidate = mail.msgid
    for ref in reversed(mail.chain):
        other = known.get(ref)
        if other is None:
            candidate = ref  # not here (yet): a missing cover or an earlier patch; look further up
            continue
        if other.kind == "cover" and other.series_key == mail.series_key:
            return ref
        if other.kind == "patch" and other.series_key == mail.series_key and other.counter < mail.counter:
            if _depth < 64:
                return head_of(other, known, _depth + 1)
            candidate = ref
            continue
        break  # a mail of another series (a previous version, a discussion): the series starts below it
    return candidate


def is_unthreaded_patch(mail: MailFacts) -> bool:
    return mail.kind == "patch" and not mail.chain and mail.total > 1


def unthreaded_root(mail: MailFacts) -> str:
    """The neighbourhood of `git send-email --no-thread` patches: the author's patches of this
    version and length that thread under nothing."""
    return f"~unthreaded|{mail.author}|v{mail.version}|{mail.total}"


def _unthreaded_heads(mails: Iterable[MailFacts]) -> dict[str, str]:
    """Patches that thread under nothing: the same author's mails of one version and length, in
    date order, make one series until a counter repeats or UNTHREADED_WINDOW has passed."""
    heads: dict[str, str] = {}
    runs: dict[tuple[str, int, int, bool], tuple[MailFacts, set[int]]] = {}
    for mail in sorted((m for m in mails if is_unthreaded_patch(m)), key=_order):
        current = runs.get(mail.series_key)
        if current is not None:
            first, taken = current
            gap = (mail.sent_at - first.sent_at) if mail.sent_at and first.sent_at else dt.timedelta(0)
            if mail.counter not in taken and gap <= UNTHREADED_WINDOW:
                taken.add(mail.counter)
                heads[mail.msgid] = first.msgid
                continue
        runs[mail.series_key] = (mail, {mail.counter})
        heads[mail.msgid] = mail.msgid
    return heads


def _order(mail: MailFacts) -> tuple[dt.datetime, str]:
    return (mail.sent_at or dt.datetime.min, mail.msgid)


def group(facts: Iterable[MailFacts]) -> list[SeriesGroup]:
    """The series that these mails make, sorted by key. Replies carry trailers to their patch (or,
    to the cover letter, to every patch); a reply whose patch is not in the set is left out."""
    mails = {f.msgid: f for f in facts}
    buckets: dict[str, list[MailFacts]] = {}
    loose = _unthreaded_heads(mails.values())
    for mail in sorted(mails.values(), key=_order):
        if mail.kind not in ("patch", "cover"):
            continue
        head = loose.get(mail.msgid) or head_of(mail, mails)
        key = f"{head}|{mail.author}|v{mail.version}|{mail.total}" + ("|resend" if mail.is_resend else "")
        buckets.setdefault(key, []).append(mail)
    groups = {key: _make_group(key, members) for key, members in buckets.items()}
    _attach_replies(groups, mails)
    return [groups[k] for k in sorted(groups)]


def _make_group(key: str, members: list[MailFacts]) -> SeriesGroup:
    head = key.split("|", 1)[0]
    first = members[0]
    cover = next((m for m in members if m.kind == "cover" and m.msgid == head), None)
    patches: dict[int, MailFacts] = {}
    duplicates: list[str] = []
    for mail in members:  # earliest first: a second mail for one counter is a duplicate
        if mail.kind == "cover":
            if mail is not cover:
                duplicates.append(mail.msgid)
        elif mail.counter in patches or mail.counter < 1:
            duplicates.append(mail.msgid)
        else:
            patches[mail.counter] = mail
    lowest = patches[min(patches)] if patches else None
    lead = cover or lowest or first
    title = (cover.title if cover else (patches[1].title if 1 in patches else "")) or (lowest or first).title
    dates = [m.sent_at for m in members if m.sent_at]
    return SeriesGroup(
        key=key, head=head, author=first.author, version=first.version, total=first.total,
        cover=cover.msgid if cover else None, patches={i: m.msgid for i, m in sorted(patches.items())},
        duplicates=tuple(duplicates), title=title, first_chain=lead.chain, sent_at=min(dates) if dates else None,
        change_id=next((m.change_id for m in members if m.change_id), None),
        supersedes=tuple(sorted({s for m in members for s in m.supersedes})),
        is_resend=any(m.is_resend for m in members),
        trailers={i: tuple((n, v, m.msgid) for n, v in m.trailers) for i, m in patches.items()},
    )


def _attach_replies(groups: dict[str, SeriesGroup], mails: dict[str, MailFacts]) -> None:
    where: dict[str, tuple[str, int | None]] = {}  # Message-ID -> (group key, counter or None for the cover)
    for key, g in groups.items():
        if g.cover:
            where[g.cover] = (key, None)
        for counter, msgid in g.patches.items():
            where[msgid] = (key, counter)
    replies: dict[str, list[str]] = {}
    for mail in sorted(mails.values(), key=_order):
        if mail.kind != "reply" or mail.parent not in where:
            continue
        key, counter = where[mail.parent]  # type: ignore[index]
        replies.setdefault(key, []).append(mail.msgid)
        g = groups[key]
        for target in [counter] if counter is not None else list(g.patches):
            have = g.trailers.get(target, ())
            seen = {(n, v) for n, v, _ in have}
            new = tuple((n, v, mail.msgid) for n, v in mail.trailers if (n, v) not in seen)
            g.trailers[target] = have + new
    for key, ids in replies.items():
        groups[key] = _with_replies(groups[key], tuple(ids))


def _with_replies(g: SeriesGroup, replies: tuple[str, ...]) -> SeriesGroup:
    from dataclasses import replace

    return replace(g, replies=replies)
