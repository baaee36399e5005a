"""Persist bot.ingest.grouping for one neighbourhood: every mail of the affected threads is
re-grouped and the Series/Patch rows are made to match, keeping series ids stable (a group keeps
the id of the series that already holds most of its mails). Then versions are re-linked among the
authors' recent series and complete, current versions get their run. Runs under the project's
assembly lock (bot.db.session.lock_project), so concurrent deliveries are serialised."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import Session, selectinload

from bot.db.models import CommandRow, Message, OutboundMail, Patch, Run, Series, utcnow
from bot.ingest.grouping import MailFacts, SeriesGroup, group, is_unthreaded_patch
from bot.ingest.versions import VersionView, link_versions, normalise_subject, title_key
from bot.schedule import cancel_run, create_run
from bot.settings import Settings

log = logging.getLogger("seriesbot.ingest")
AUTHOR_WINDOW = 50  # at most this many same-titled series of an author per touched series


@dataclass
class Pending:
    """Threads to re-group at the end of a batch (an import regroups each thread once)."""

    roots: dict[str, set[str]] = field(default_factory=dict)  # project -> thread roots

    def add(self, project: str, root: str) -> None:
        self.roots.setdefault(project, set()).add(root)


@dataclass(frozen=True)
class _Mail:
    pk: int
    facts: MailFacts
    extra: dict[str, object]
    history: bool
    subject: str
    root: str
    series_id: int | None = None


def regroup(session: Session, settings: Settings, project: str, roots: Iterable[str]) -> list[int]:
    """Re-derive the series of these threads; returns the ids of the series that exist for them."""
    todo = set(roots)
    if not todo:
        return []
    mails: dict[str, _Mail] = {}
    done: set[str] = set()
    existing: dict[int, Series] = {}
    for _round in range(4):
        # the threads, the threads their mails hang from (replies to an unthreaded patch), and every
        # mail of a series met on the way, so no series is re-made from part of its mails
        _load(session, project, todo, done, mails)
        old_ids = sorted({m.series_id for m in mails.values() if m.series_id} - set(existing))
        for chunk in _chunks(old_ids, 300):
            for series in session.scalars(select(Series).where(Series.id.in_(chunk))
                                          .options(selectinload(Series.patches))):
                existing[series.id] = series
        todo = {m for series in existing.values() for m in
                ([series.cover_msgid] if series.cover_msgid else []) + [p.message_id for p in series.patches]}
        todo -= set(mails) | done
        if not todo:
            break
    _reroot(session, mails)
    groups = group(m.facts for m in mails.values())
    keys = [g.key for g in groups if g.key]
    for chunk in _chunks(keys, 300):
        for series in session.scalars(select(Series).where(Series.project == project, Series.group_key.in_(chunk))
                                      .options(selectinload(Series.patches))):
            existing.setdefault(series.id, series)
    assigned = _match(groups, existing, mails)
    return _sync(session, settings, project, groups, assigned, existing, mails)


_COLUMNS = (Message.id, Message.message_id, Message.thread_root, Message.facts, Message.history, Message.subject,
            Message.series_id)


def _load(session: Session, project: str, todo: set[str], done: set[str], mails: dict[str, _Mail]) -> None:
    """Patches and cover letters of the threads (by thread_root, or being the root), then the
    replies straight to them (by the indexed In-Reply-To): a long discussion under a series costs
    nothing here, only the mails that can carry its trailers and commands are read."""
    for _round in range(3):
        if not todo:
            break
        done |= todo
        wanted = sorted(todo)
        todo = set()
        for chunk in _chunks(wanted, 300):
            for row in session.execute(select(*_COLUMNS).where(
                    Message.project == project, Message.facts.is_not(None), Message.kind.in_(("patch", "cover")),
                    or_(Message.thread_root.in_(chunk), Message.message_id.in_(chunk)))):
                mail = _add(mails, row)
                if mail is not None:
                    todo |= ({mail.root, mail.facts.msgid} if is_unthreaded_patch(mail.facts) else {mail.root}) - done
    parents = sorted(m for m, mail in mails.items() if mail.facts.kind != "reply")
    for chunk in _chunks(parents, 300):
        for row in session.execute(select(*_COLUMNS).where(
                Message.project == project, Message.facts.is_not(None), Message.kind == "reply",
                Message.in_reply_to.in_(chunk))):
            _add(mails, row)


def _add(mails: dict[str, _Mail], row) -> _Mail | None:  # type: ignore[no-untyped-def]
    pk, msgid, root, facts, history, subject, sid = row
    if msgid in mails:
        return None
    mail = _Mail(pk, MailFacts.from_json(msgid, facts), facts, bool(history), subject, root or msgid, sid)
    mails[msgid] = mail
    return mail


def _reroot(session: Session, mails: dict[str, _Mail]) -> None:
    """A mail whose References stop short (a reply naming only its patch) joins the thread of the
    mail it hangs from, so the next regroup of that thread finds it."""
    for msgid, mail in list(mails.items()):
        root, steps = mail.root, 0
        while root in mails and mails[root].root != root and steps < 8:
            root, steps = mails[root].root, steps + 1
        if root != mail.root:
            session.execute(update(Message).where(Message.id == mail.pk).values(thread_root=root))
            mails[msgid] = replace(mail, root=root)


def _chunks(items: list, size: int):  # type: ignore[no-untyped-def]
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _match(groups: list[SeriesGroup], existing: dict[int, Series], mails: dict[str, _Mail]) -> dict[str, int]:
    """group key -> existing series id: the same key first, else the series holding most of its mails."""
    holder: dict[str, int] = {}
    for s in existing.values():
        if s.cover_msgid:
            holder[s.cover_msgid] = s.id
        for p in s.patches:
            holder[p.message_id] = s.id
    by_key = {s.group_key: s.id for s in existing.values() if s.group_key}
    assigned: dict[str, int] = {}
    used: set[int] = set()
    for g in groups:
        sid = by_key.get(g.key)
        if sid is not None and sid not in used:
            assigned[g.key] = sid
            used.add(sid)
    for g in groups:
        if g.key in assigned:
            continue
        votes: dict[int, int] = {}
        for msgid in g.members:
            sid = holder.get(msgid)
            if sid is not None and sid not in used:
                votes[sid] = votes.get(sid, 0) + 1
        if votes:
            sid = min(votes, key=lambda i: (-votes[i], i))
            assigned[g.key] = sid
            used.add(sid)
    return assigned


def _sync(session: Session, settings: Settings, project: str, groups: list[SeriesGroup], assigned: dict[str, int],
          existing: dict[int, Series], mails: dict[str, _Mail]) -> list[int]:
    series_of: dict[str, Series] = {}
    now = utcnow()
    for g in groups:
        sid = assigned.get(g.key)
        if sid is None:
            lead = mails[g.members[0]] if g.members else None
            series = Series(project=project, title=g.title, norm_title=normalise_subject(g.title), author_email=g.author,
                            version=g.version, total=g.total, state="partial", patches=[], created_at=now,
                            private=bool(lead.extra.get("private")) if lead else False)
            session.add(series)
            series_of[g.key] = series
        else:
            series_of[g.key] = existing[sid]
    session.flush()
    # patches: move or re-index through a temporary index, so (series, index) stays unique meanwhile
    rows = {p.message_id: p for s in existing.values() for p in s.patches}
    wanted = {msgid: (series_of[g.key], i) for g in groups for i, msgid in g.patches.items()}
    for msgid, p in rows.items():
        if msgid not in wanted:
            p.series.patches.remove(p)
        elif (p.series_id, p.index) != (wanted[msgid][0].id, wanted[msgid][1]):
            p.index = -p.id
    session.flush()
    changed: set[int] = set()
    moves: list[dict[str, int]] = []
    arrived: list[int] = []  # replies that found their series now: commands waiting in them run
    for msgid, (series, index) in wanted.items():
        p = rows.get(msgid)
        mail = mails[msgid]
        if p is None:
            series.patches.append(_new_patch(series, index, mail))
            changed.add(series.id)
        elif p.series_id != series.id or p.index != index:
            if p.series_id != series.id:
                changed |= {p.series_id, series.id}
                p.series = series
            p.index = index
    session.flush()
    for g in groups:
        series = series_of[g.key]
        _fill(series, g, mails)
        if series.id in changed or series.group_key != g.key:
            series.last_message_at = now
        series.group_key = g.key
        for m in (*g.members, *g.duplicates, *g.replies):
            if m in mails and mails[m].series_id != series.id:
                moves.append({"pk": mails[m].pk, "sid": series.id})
                if mails[m].series_id is None and mails[m].facts.kind == "reply":
                    arrived.append(mails[m].pk)
    if moves:  # Core executemany: one statement for the batch, no ORM bookkeeping
        table = Message.__table__
        session.connection().execute(
            update(table).where(table.c.id == bindparam("pk")).values(series_id=bindparam("sid")), moves)
    kept = {s.id for s in series_of.values()}
    for sid, series in existing.items():
        if sid not in kept:
            _dissolve(session, series)
    session.flush()
    touched = sorted(kept)
    _relink(session, settings, project, [series_of[g.key] for g in groups])
    for g in groups:
        _complete(session, settings, series_of[g.key], g, mails)
    if arrived:
        from bot.commands.dispatch import run_waiting_commands  # commands act on series: after them

        run_waiting_commands(session, settings, arrived)
    return touched


def _new_patch(series: Series, index: int, mail: _Mail) -> Patch:
    f, x = mail.facts, mail.extra
    return Patch(series_id=series.id, index=index, message_id=f.msgid, message_pk=mail.pk, subject=mail.subject,
                 title=f.title, title_key=title_key(f.title) if f.title else None, author_name=str(x.get("name", "")), author_email=f.author,
                 patch_id=x.get("patch_id") or None)  # type: ignore[arg-type]


def _fill(series: Series, g: SeriesGroup, mails: dict[str, _Mail]) -> None:
    lead = mails[g.cover or g.members[0]]
    series.version, series.total, series.author_email = g.version, g.total, g.author
    series.author_name = str(lead.extra.get("name", "")) or series.author_name
    series.title, series.norm_title = g.title, normalise_subject(g.title)
    series.cover_msgid = g.cover
    series.cover_subject = mails[g.cover].subject if g.cover else None
    series.thread_root = g.head
    series.replies_to = list(g.first_chain)
    series.supersedes_msgids = list(g.supersedes)
    series.change_id = g.change_id
    series.sent_at = g.sent_at
    series.is_resend = g.is_resend
    series.is_rfc = bool(lead.extra.get("is_rfc"))
    series.missing = list(g.missing)
    extras = [mails[m].extra for m in g.members]
    series.base_commit = next((str(x["base_commit"]) for x in extras if x.get("base_commit")), None)
    series.based_on = sorted({str(v) for x in extras for v in x.get("based_on", ())})  # type: ignore[attr-defined]
    series.prerequisite_patch_ids = sorted({str(v) for x in extras for v in x.get("prereq", ())})  # type: ignore[attr-defined]
    for p in series.patches:
        want = [list(t) for t in g.trailers.get(p.index, ())]
        if p.trailers != want:
            p.trailers = want


def _dissolve(session: Session, series: Series) -> None:
    """A series none of whose mails still make it (it was a fragment of another one)."""
    for p in list(series.patches):
        series.patches.remove(p)
    if series.runs:
        for run in series.runs:
            cancel_run(session, run, reason="its mails belong to another series")
        series.state, series.group_key = "dissolved", None
        return
    sid = series.id
    session.execute(update(Message).where(Message.series_id == sid).values(series_id=None))
    session.execute(update(CommandRow).where(CommandRow.series_id == sid).values(series_id=None))
    session.execute(update(OutboundMail).where(OutboundMail.series_id == sid).values(series_id=None))
    session.execute(update(Series).where(Series.superseded_by_id == sid).values(superseded_by_id=None))
    session.execute(update(Series).where(Series.supersedes_id == sid).values(supersedes_id=None))
    session.flush()
    session.execute(delete(Series).where(Series.id == sid))
    session.expunge(series)


def _relink(session: Session, settings: Settings, project: str, touched: list[Series]) -> None:
    """Re-link versions around the touched series: the same author's series that share a title or
    a patch subject with them (indexed: series.norm_title, patch.title_key), the series they name
    or share a change-id with, and those linked to them now. Only links that involve a touched series change (a series at the window's edge
    keeps the links it was given with its own neighbourhood)."""
    if not touched:
        return
    pool: dict[int, Series] = {s.id: s for s in touched}
    for author in sorted({s.author_email for s in touched}):
        mine = [s for s in touched if s.author_email == author]
        titles = sorted({s.norm_title for s in mine})
        keys = sorted({p.title_key for s in mine for p in s.patches if p.title_key})
        same = [Series.norm_title.in_(titles)]
        for chunk in _chunks(keys, 300):
            same.append(Series.id.in_(select(Patch.series_id).where(Patch.title_key.in_(chunk))))
        for s in session.scalars(select(Series).where(Series.project == project, Series.author_email == author,
                                                      or_(*same)).limit(AUTHOR_WINDOW * len(mine))):
            pool[s.id] = s
    named = sorted({m for s in touched for m in (*s.replies_to, *s.supersedes_msgids)})
    change_ids = sorted({s.change_id for s in touched if s.change_id})
    linked = sorted({i for s in touched for i in (s.superseded_by_id, s.supersedes_id) if i} - set(pool))
    clauses = []
    if named:
        clauses += [Series.cover_msgid.in_(named), Series.id.in_(select(Patch.series_id).where(Patch.message_id.in_(named)))]
    if change_ids:
        clauses.append(Series.change_id.in_(change_ids))
    if linked:
        clauses.append(Series.id.in_(linked))
    if clauses:
        for s in session.scalars(select(Series).where(Series.project == project, or_(*clauses))):
            pool[s.id] = s
    live = [s for s in pool.values() if s.state not in ("dissolved", "merged")]
    links = link_versions(_view(s) for s in live)
    near = {s.id for s in touched}
    for s in live:
        newer, older = links[s.id]
        if s.id not in near:  # only a link to or from a touched series may change here
            if newer not in near and s.superseded_by_id not in near:
                newer = s.superseded_by_id
            if older not in near and s.supersedes_id not in near:
                older = s.supersedes_id
        s.supersedes_id = older
        if newer != s.superseded_by_id:
            s.superseded_by_id = newer
            if newer is not None:
                s.state = "superseded"
                for run in s.runs:
                    cancel_run(session, run, reason=f"superseded by series {newer}")
                log.info("event=superseded old=%d new=%d", s.id, newer)
            elif s.state == "superseded":  # what replaced it no longer does (it was a fragment)
                complete = not s.missing and len(s.patches) == s.total
                s.state = "complete" if complete else "partial"


def _view(s: Series) -> VersionView:
    members = frozenset(([s.cover_msgid] if s.cover_msgid else []) + [p.message_id for p in s.patches])
    return VersionView(id=s.id, author=s.author_email, version=s.version, sent_at=s.sent_at, title=s.title,
                       members=members, first_chain=tuple(s.replies_to), supersedes=frozenset(s.supersedes_msgids),
                       change_id=s.change_id,
                       patch_titles=frozenset(normalise_subject(p.title) for p in s.patches if p.title))


def _complete(session: Session, settings: Settings, series: Series, g: SeriesGroup, mails: dict[str, _Mail]) -> None:
    """A complete, current version with a mail that is not history gets its run, once."""
    if series.superseded_by_id is not None:
        return
    live = any(not mails[m].history for m in g.members)
    if not g.complete:
        if series.state == "complete":
            series.state = "partial"
        if series.state == "partial" and not live:
            series.state = "incomplete"  # history: recorded as it was, never announced
        return
    if series.state not in ("partial", "incomplete"):
        return
    series.state = "complete"
    if live and not any(r.state in ("queued", "running", "done") for r in series.runs):
        create_run(session, settings, series, trigger="new-series")


__all__ = ["Pending", "Run", "regroup"]
