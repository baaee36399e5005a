"""ingest_message(pk): load -> parse -> decide -> persist -> schedule when a series completes.

Idempotent: a message is ingested once (its status leaves 'stored' in the same transaction that
persists the decision). A message that crashes ingest is marked 'error' with the reason, never lost.
"""

from __future__ import annotations

import logging

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from bot.db.models import Message, Patch, Series, utcnow
from bot.db.session import lock_project, session_scope
from bot.ingest import assemble
from bot.ingest.b4compat import PERSON_TRAILERS
from bot.ingest.listmail import author_copy
from bot.ingest.parse import parse_mail
from bot.ingest.patchid import patch_id
from bot.logs import bound
from bot.records import ParsedMail
from bot.schedule import cancel_run, create_run
from bot.settings import Settings

log = logging.getLogger("seriesbot.ingest")


def ingest_row(session: Session, settings: Settings, row: Message) -> str:
    """Parse one stored message and persist what it means, in the caller's transaction."""
    parsed = parse_mail(row.raw, bot_address=settings.bot_address, command_prefix=settings.command_prefix,
                        list_addresses=tuple(p.list_address for p in settings.projects.values()))
    _record_headers(row, parsed)
    if parsed.list_changes and parsed.kind == "patch":  # git am gets the author's copy, not the list's
        row.author_raw = author_copy(row.raw, changes=parsed.list_changes, author_name=parsed.from_name,
                                     author_email=parsed.from_email, subject=parsed.subject)
    row.status = _route(session, settings, row, parsed)
    return row.status


def ingest_message(pk: int, settings: Settings) -> str:
    """Returns the message's new status (for logs and tests)."""
    with bound(message=pk):
        return _ingest_message(pk, settings)


def _ingest_message(pk: int, settings: Settings) -> str:
    try:
        with session_scope(settings.database_url) as session:
            row = session.get(Message, pk, with_for_update=True)
            if row is None or row.status != "stored":
                return row.status if row else "missing"
            return ingest_row(session, settings, row)
    except Exception as exc:
        log.exception("event=ingest-crashed pk=%d", pk)
        with session_scope(settings.database_url) as session:
            row = session.get(Message, pk)
            if row is not None:
                row.status = "error"
                row.reason = f"ingest crashed: {exc!r}"[:2000]
        return "error"


def _record_headers(row: Message, parsed: ParsedMail) -> None:
    row.kind = parsed.kind
    row.subject = parsed.subject[:2000]
    row.from_addr = parsed.from_email[:320]
    row.in_reply_to = parsed.in_reply_to
    row.references = list(parsed.references)[-50:]
    if parsed.problems:
        row.reason = "; ".join(parsed.problems)[:2000]


def _route(session: Session, settings: Settings, row: Message, parsed: ParsedMail) -> str:
    if parsed.list_notice:  # the list server's own mail: marked; a confirmation the bot asked for answered
        from bot.commands.subscription import handle_list_notice

        return handle_list_notice(session, settings, row, parsed)
    if parsed.ignore_reason:
        row.reason = parsed.ignore_reason
        return "ignored"
    if parsed.reject_reason:
        row.reason = parsed.reject_reason
        return "rejected"
    if row.project is not None and parsed.kind in ("patch", "cover", "reply"):
        lock_project(session, row.project)
    if parsed.commands and parsed.kind not in ("patch", "cover") and not row.history:
        # a command may come straight to the bot, without a List-Id: its series names the project
        from bot.commands.dispatch import handle_commands

        if handle_commands(session, settings, row, parsed):
            if row.project is not None and parsed.kind == "reply":
                _collect_reply(session, row, parsed)
            return "parsed"
    if row.project is None:
        row.reason = f"List-Id {parsed.list_id!r} belongs to no configured project" if parsed.list_id else \
            "not addressed to a configured list"
        return "ignored"
    if parsed.kind in ("patch", "cover"):
        series = _assemble(session, settings, row, parsed)
        return "parsed" if series is not None else "ignored"
    if parsed.kind == "reply":
        _collect_reply(session, row, parsed)
        return "parsed"
    row.reason = row.reason or "not a patch, a cover letter or a reply to one"
    return "parsed"


def _candidates(session: Session, project: str, parsed: ParsedMail) -> list[assemble.SeriesView]:
    ids = list(parsed.thread_ids) + [parsed.message_id]
    via_patch = select(Patch.series_id).where(Patch.message_id.in_(ids))
    query = select(Series).where(
        Series.project == project,
        or_(
            Series.cover_msgid.in_(ids),
            Series.thread_root.in_(ids),
            Series.id.in_(via_patch),
            (Series.author_email == parsed.from_email) & (Series.state == "partial"),
        ),
    )
    views = []
    for series in session.scalars(query.options(selectinload(Series.patches))):
        views.append(assemble.SeriesView(
            id=series.id, version=series.version, total=series.total, author_email=series.author_email,
            norm_title=series.norm_title, cover_msgid=series.cover_msgid, thread_root=series.thread_root,
            patch_msgids={p.message_id: p.index for p in series.patches}, state=series.state,
            created_at=series.created_at,
        ))
    return views


def _assemble(session: Session, settings: Settings, row: Message, parsed: ParsedMail) -> Series | None:
    info = parsed.subject_info
    decision = assemble.decide(parsed, _candidates(session, row.project or "", parsed), utcnow())
    if decision.action == "duplicate":
        row.reason = decision.reason
        row.series_id = decision.series_id
        return None
    if decision.action == "join":
        series = session.get(Series, decision.series_id)
        assert series is not None
    else:
        title = info.title
        series = Series(
            project=row.project, title=title, norm_title=assemble.normalise_title(title),
            author_name=parsed.from_name, author_email=parsed.from_email, version=info.version,
            total=info.total, thread_root=decision.thread_root, state="partial",
            replies_to=list(parsed.thread_ids), is_resend=info.is_resend, is_rfc=info.is_rfc, patches=[],
            private=_is_private(settings, row, parsed),
        )
        session.add(series)
        session.flush()
    row.series_id = series.id
    series.last_message_at = utcnow()
    if parsed.base_commit and not series.base_commit:
        series.base_commit = parsed.base_commit
    if parsed.based_on and not series.based_on:
        series.based_on = list(parsed.based_on)
    if parsed.supersedes:
        series.supersedes_msgids = sorted(set(series.supersedes_msgids) | set(parsed.supersedes))
    if parsed.prerequisite_patch_ids:
        series.prerequisite_patch_ids = sorted(set(series.prerequisite_patch_ids) | set(parsed.prerequisite_patch_ids))
    if info.is_cover:
        series.cover_msgid = parsed.message_id
        series.cover_subject = parsed.subject
        series.replies_to = list(parsed.thread_ids)
        series.is_resend = series.is_resend or info.is_resend
        series.title = info.title
        series.norm_title = assemble.normalise_title(info.title)
    else:
        series.patches.append(Patch(
            series_id=series.id, index=info.counter, message_id=parsed.message_id, message_pk=row.id,
            subject=parsed.subject, author_name=parsed.from_name, author_email=parsed.from_email,
            patch_id=patch_id(parsed.diff),
            trailers=[[t.name, t.value, parsed.message_id] for t in parsed.trailers if t.name in PERSON_TRAILERS],
        ))
        if info.total == 1 or (info.counter == 1 and not series.cover_msgid):
            series.title = info.title if not series.cover_msgid else series.title
            series.norm_title = assemble.normalise_title(series.title)
        session.flush()
    log.info("event=assembled msgid=%s series=%d index=%d/%d action=%s", parsed.message_id, series.id,
             info.counter, info.total, decision.action)
    if info.is_cover and series.state not in ("partial", "incomplete"):
        _supersede_older(session, series)  # a late cover letter may name or thread under v1
    _maybe_complete(session, settings, series)
    return series


def _is_private(settings: Settings, row: Message, parsed: ParsedMail) -> bool:
    """Mailed straight to the bot (not through the list): tested and answered to the sender only."""
    if parsed.list_id:
        return False
    bot = settings.bot_address.lower()
    to_bot = any(r.lower() == bot or r.lower().startswith(bot.split("@")[0] + "+") for r in row.envelope_to)
    project = settings.projects.get(row.project or "")
    to_list = project is not None and project.list_address.lower() in (parsed.to_addresses or ())
    return to_bot and not to_list


def _maybe_complete(session: Session, settings: Settings, series: Series) -> None:
    done = assemble.completion(series.total, {p.index for p in series.patches})
    series.missing = list(done.missing)
    if not done.complete or series.state not in ("partial", "incomplete"):
        return
    series.state = "complete"
    _supersede_older(session, series)
    if _all_history(session, series):
        return  # old mail (an import, an archive from before following): recorded, never run or mailed
    create_run(session, settings, series, trigger="new-series")


def _all_history(session: Session, series: Series) -> bool:
    pks = [p.message_pk for p in series.patches]
    live = session.scalar(select(Message.id).where(Message.id.in_(pks), Message.history.is_(False)).limit(1))
    return bool(pks) and live is None


def _supersede_older(session: Session, series: Series) -> None:
    """Link the earlier versions this series replaces, both ways, and cancel their runs. An earlier
    version is: named by a `Supersedes:` line; or the series this one is threaded under; or the
    same author's series with the same normalised title and a version not above this one's (a
    RESEND, or the same version mailed again, replaces the earlier copy)."""
    named = set(series.supersedes_msgids) | set(series.replies_to)
    via_patch = select(Patch.series_id).where(Patch.message_id.in_(named)) if named else None
    same_title = (Series.author_email == series.author_email) & (Series.norm_title == series.norm_title) & \
        (Series.version <= series.version)
    match = or_(same_title, Series.cover_msgid.in_(named), Series.id.in_(via_patch)) if named else same_title
    older = session.scalars(
        select(Series).where(
            Series.project == series.project,
            Series.id != series.id,
            Series.id < series.id,
            Series.superseded_by_id.is_(None),
            Series.state != "merged",
            match,
        ).order_by(Series.id)
    ).all()
    for old in older:
        if old.version > series.version and old.cover_msgid not in series.supersedes_msgids:
            continue  # a newer version is never replaced by an older one, unless named explicitly
        old.superseded_by_id = series.id
        old.state = "superseded"
        series.supersedes_id = old.id  # the newest earlier version (ordered by id)
        for run in old.runs:
            cancel_run(session, run, reason=f"superseded by v{series.version} (series {series.id})")
        log.info("event=superseded old=%d new=%d", old.id, series.id)


def _collect_reply(session: Session, row: Message, parsed: ParsedMail) -> None:
    """Reviewed-by & co. in a reply land on the patch replied to (or every patch, for the cover)."""
    target = parsed.in_reply_to
    if not target:
        return
    patch = session.scalar(select(Patch).where(Patch.message_id == target).limit(1))
    series = patch.series if patch else session.scalar(select(Series).where(Series.cover_msgid == target).limit(1))
    if series is None:
        row.reason = "reply to a mail that is not a known patch"
        return
    row.series_id = series.id
    wanted = [t for t in parsed.trailers if t.name in PERSON_TRAILERS]
    for target_patch in [patch] if patch else list(series.patches):
        have = {(t[0], t[1]) for t in target_patch.trailers}
        new = [[t.name, t.value, parsed.message_id] for t in wanted if (t.name, t.value) not in have]
        if new:
            target_patch.trailers = list(target_patch.trailers) + new
