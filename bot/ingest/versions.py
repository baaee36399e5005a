"""Pure: which series is a later version of which, the ways people post them. B replaces A when B
is later (a higher version, or the same version posted again) and one of these holds: B is threaded
under one of A's mails; B names one of A's mails in `Supersedes:`; both carry b4's same `change-id:`;
or, from the same author, half of A's patch subjects come back in B (or the titles match), cover
letter or not. Each series is superseded by the *next* version that replaces it, so v1 -> v2 -> v3
whatever order they arrived in."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

OVERLAP = 0.5


@dataclass(frozen=True)
class VersionView:
    id: int
    author: str
    version: int
    sent_at: dt.datetime | None
    title: str
    members: frozenset[str]  # cover and patch Message-IDs
    first_chain: tuple[str, ...]
    supersedes: frozenset[str]
    change_id: str | None
    patch_titles: frozenset[str]

    @property
    def order(self) -> tuple[int, dt.datetime, int]:
        return (self.version, self.sent_at or dt.datetime.min, self.id)


def normalise_subject(title: str) -> str:
    return re.sub(r"\s+", " ", title.lower()).strip().rstrip(".")


def title_key(title: str) -> str:
    return hashlib.sha256(normalise_subject(title).encode()).hexdigest()[:32]


def replaces(new: VersionView, old: VersionView) -> bool:
    if new.id == old.id or not new.order > old.order:
        return False
    if set(new.first_chain) & old.members or new.supersedes & old.members:
        return True
    if new.change_id and new.change_id == old.change_id:
        return True
    if new.author != old.author:
        return False
    if normalise_subject(new.title) == normalise_subject(old.title):
        return True
    if not new.patch_titles or not old.patch_titles:
        return False
    shared = len(new.patch_titles & old.patch_titles)
    return shared / min(len(new.patch_titles), len(old.patch_titles)) >= OVERLAP


def link_versions(views: Iterable[VersionView]) -> dict[int, tuple[int | None, int | None]]:
    """series id -> (superseded_by, supersedes): the next and the previous version. Candidates come
    from indexes (shared mail, change-id, author + title, author + patch subject), so the cost
    grows with the links, not with the square of the series."""
    items = sorted(views, key=lambda v: v.order)
    rank = {v.id: n for n, v in enumerate(items)}
    by_member: dict[str, set[int]] = {}
    by_change: dict[str, set[int]] = {}
    by_title: dict[tuple[str, str], set[int]] = {}
    for v in items:
        for m in v.members:
            by_member.setdefault(m, set()).add(v.id)
        if v.change_id:
            by_change.setdefault(v.change_id, set()).add(v.id)
        for t in {normalise_subject(v.title), *(f"\0{p}" for p in v.patch_titles)}:
            by_title.setdefault((v.author, t), set()).add(v.id)
    view = {v.id: v for v in items}
    newer: dict[int, int] = {}
    older: dict[int, int] = {}
    for new in items:
        candidates: set[int] = set()
        for m in (*new.first_chain, *new.supersedes):
            candidates |= by_member.get(m, set())
        if new.change_id:
            candidates |= by_change.get(new.change_id, set())
        for t in {normalise_subject(new.title), *(f"\0{p}" for p in new.patch_titles)}:
            candidates |= by_title.get((new.author, t), set())
        for old_id in sorted(candidates, key=rank.__getitem__, reverse=True):
            if rank[old_id] >= rank[new.id] or not replaces(new, view[old_id]):
                continue
            older.setdefault(new.id, old_id)  # the latest earlier version it replaces
            if old_id not in newer or rank[new.id] < rank[newer[old_id]]:
                newer[old_id] = new.id
    return {v.id: (newer.get(v.id), older.get(v.id)) for v in items}
