"""Following a list's public-inbox archive: a second inlet, a backstop for mail SMTP never
delivered, and proof that the bot's own replies reached the list.

For each epoch of the project's archive (new epochs are found by themselves), `follow_project`
mirrors it with git, reads the commits after the epoch's cursor (stored in the database) and hands
each message to `store_message`, the one way in, then ingests it. A Message-ID already stored (SMTP
got there first) is a no-op. The cursor moves only after the messages it covers are committed, so
a follower killed at any point re-reads at most one batch, and reading twice stores nothing twice.
Mail the archive took before the project began following is history (stored, assembled, never run
or answered). A rewritten epoch (its cursor no longer in its history), an epoch that cannot be
fetched, a message that does not parse or is too big: each is stored and marked or reported to the
admins, and the follower goes on.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import queue
from bot.db.models import InboxEpoch, InboxFollow, Message, OutboundMail, utcnow
from bot.db.session import session_scope
from bot.ingest.ingest import flush_pending, ingest_row
from bot.ingest.regroup import Pending
from bot.receive import archive
from bot.receive.archive import ArchiveError
from bot.receive.store import store_message
from bot.records import OutgoingMail
from bot.settings import ProjectSettings, Settings

log = logging.getLogger("seriesbot.follow")

BATCH = 200  # commits per transaction and cursor step: what a killed follower reads again
HEAD_KEEP = 65536  # what is kept of a message over the size limit (its headers and the start)


@dataclass
class FollowReport:
    project: str
    epochs: list[int] = field(default_factory=list)
    commits: int = 0  # archive commits read
    stored: int = 0  # messages new to the database (the archive was their only way in so far)
    duplicates: int = 0  # already stored (SMTP, or an earlier read)
    history: int = 0  # of the stored: older than following, never run or answered
    rejected: int = 0  # stored and marked: over the size limit
    deletions: int = 0  # commits without a message
    on_list: int = 0  # the bot's own mails newly seen in the archive
    problems: list[str] = field(default_factory=list)


# (database, archive, epoch) -> the manifest fingerprint of the epoch as this process last read it whole
_read_fingerprints: dict[tuple[str, str, int], str] = {}


def mirror_dir(project: ProjectSettings, settings: Settings) -> Path:
    return Path(project.inbox_mirror) if project.inbox_mirror else settings.data_dir / "inbox" / project.name


def follow_project(project: ProjectSettings, settings: Settings, *, client: httpx.Client | None = None,
                   batch: int = BATCH) -> FollowReport:
    """Read everything new in the project's archive, once. Safe to run at any time, from any process:
    a second follower of the same mirror at the same moment waits for the first."""
    report = FollowReport(project.name)
    if not project.inbox_url:
        return report
    mirror = mirror_dir(project, settings)
    mirror.mkdir(parents=True, exist_ok=True)
    with open(mirror / ".follow.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        begun = _follow_row(project, settings)
        try:
            epochs = _epochs(project, settings, client)
        except ArchiveError as exc:
            _problem(settings, project, report, None, "unreachable", f"the archive's epochs: {exc}")
            return report
        report.epochs = sorted(epochs)
        for epoch in report.epochs:
            key = (settings.database_url, project.inbox_url, epoch)
            if epochs[epoch] and _read_fingerprints.get(key) == epochs[epoch]:
                continue  # unchanged since this process last read it whole: no git fetch
            try:
                _follow_epoch(project, settings, epoch, mirror, begun, report, batch)
                _read_fingerprints[key] = epochs[epoch]
            except ArchiveError as exc:
                _read_fingerprints.pop(key, None)
                _problem(settings, project, report, epoch, "missing", str(exc))
        if not begun and not report.problems:
            _begin(settings, project.name)
    if report.stored or report.problems:
        log.info("event=followed project=%s epochs=%s commits=%d stored=%d duplicates=%d history=%d on_list=%d "
                 "problems=%d", project.name, report.epochs, report.commits, report.stored, report.duplicates,
                 report.history, report.on_list, len(report.problems))
    return report


def _follow_row(project: ProjectSettings, settings: Settings) -> bool:
    """Has following begun (a first round done)? The first follow records when it started."""
    with session_scope(settings.database_url) as session:
        row = session.get(InboxFollow, project.name)
        if row is None:
            row = InboxFollow(project=project.name, url=project.inbox_url, started_at=utcnow(), last_error="",
                              begun=False)
            session.add(row)
        row.url = project.inbox_url
        return row.begun


def _begin(settings: Settings, project: str) -> None:
    with session_scope(settings.database_url) as session:
        row = session.get(InboxFollow, project)
        if row is not None:
            row.begun = True


def _epochs(project: ProjectSettings, settings: Settings, client: httpx.Client | None) -> dict[int, str]:
    """The manifest's epochs (with their fingerprints), and those we already follow (a vanished one is
    then reported as missing); without a manifest, the known ones and whichever next numbers answer."""
    with session_scope(settings.database_url) as session:
        known = {e: "" for e in session.scalars(select(InboxEpoch.epoch).where(InboxEpoch.project == project.name))}
    try:
        return {**known, **archive.list_epochs(project.inbox_url, client)}
    except ArchiveError:
        if archive.is_local(project.inbox_url):
            raise
    found = dict(known)
    nxt = max(found) + 1 if found else 0
    while archive.epoch_exists(project.inbox_url, nxt):
        found[nxt] = ""
        nxt += 1
    if not found:
        raise ArchiveError("no manifest.js.gz and no git/0.git")
    return found


def _follow_epoch(project: ProjectSettings, settings: Settings, epoch: int, mirror: Path, begun: bool,
                  report: FollowReport, batch: int) -> None:
    gitdir = archive.mirror_epoch(project.inbox_url, epoch, mirror)
    tip = archive.head(gitdir)
    with session_scope(settings.database_url) as session:
        row = _epoch_row(session, project.name, epoch)
        if not begun and row.cursor is None and row.history_until is None:
            # following begins here: what this epoch holds now is history (kept, so that a follower
            # killed during its first round still knows where history ends)
            row.history_until = tip
        cursor, history_until = row.cursor, row.history_until
        if row.state == "missing":
            row.state, row.error = "ok", ""
    if tip is None:
        return
    if cursor == tip:
        return
    if cursor and not archive.contains(gitdir, cursor, tip):
        # rewritten (public-inbox-purge, a force-push): read it all again; Message-IDs already stored
        # are no-ops, so nothing is stored twice; the old cursor is kept in the report for the admins
        _problem(settings, project, report, epoch, "rewritten",
                 f"epoch {epoch} was rewritten: the last commit read, {cursor}, is no longer in its history; "
                 f"reading it again from the start")
        cursor = None
    pending = archive.commits_after(gitdir, cursor, tip)
    old: set[str] = set()
    if history_until and archive.contains(gitdir, history_until, tip):
        old = {sha for sha, _ in archive.commits_after(gitdir, cursor, history_until)}
    for i in range(0, len(pending), batch):
        chunk = pending[i:i + batch]
        _store_batch(project, settings, epoch, chunk, gitdir, old, report)


def _epoch_row(session: Session, project: str, epoch: int) -> InboxEpoch:
    row = session.scalar(select(InboxEpoch).where(InboxEpoch.project == project, InboxEpoch.epoch == epoch))
    if row is None:
        row = InboxEpoch(project=project, epoch=epoch, cursor=None, commits=0, state="ok", rewrites=0, error="")
        session.add(row)
        session.flush()
    return row


def _store_batch(project: ProjectSettings, settings: Settings, epoch: int, commits: list[tuple[str, int]],
                 gitdir: Path, old: set[str], report: FollowReport) -> None:
    """Store and ingest one batch and move the cursor past it, all in one transaction: a follower
    killed here leaves the cursor before the batch, and reading it again stores nothing twice. As an
    import does, each thread the batch touched is re-grouped once, at its end."""
    limit = settings.smtp_in.max_message_size
    seen_ids: list[str] = []
    later = Pending()
    with session_scope(settings.database_url) as session:
        for commit in archive.read_commits(gitdir, commits, max_bytes=limit, keep=HEAD_KEEP):
            if commit.raw is None:
                report.deletions += 1
                continue
            raw = commit.raw
            history = commit.sha in old
            too_big = commit.size > limit
            outcome = store_message(
                raw[:HEAD_KEEP] if too_big else raw, settings, source="archive", envelope_to=[project.list_address],
                status="rejected" if too_big else "stored", history=history, session=session,
                reason=f"over the size limit: {commit.size} bytes > {limit} (archive commit {commit.sha})"
                if too_big else "")
            seen_ids.append(outcome.message_id)
            if not outcome.created:
                report.duplicates += 1
                continue
            report.stored += 1
            report.history += history
            report.rejected += too_big
            if not too_big:
                _ingest(session, settings, outcome.message_pk, later)
        flush_pending(session, settings, later)
        report.on_list += _mark_on_list(session, seen_ids)
        row = _epoch_row(session, project.name, epoch)
        row.cursor, row.commits = commits[-1][0], row.commits + len(commits)
        if row.history_until and row.history_until in {sha for sha, _ in commits}:
            row.history_until = None  # history is all read: later rounds need not look for it
        row.state = "ok"  # a rewrite or a missing spell stays told (rewrites, error) once reading goes on
        follow = session.get(InboxFollow, project.name)
        if follow is not None:
            follow.last_epoch, follow.last_commit, follow.last_read_at = epoch, commits[-1][0], utcnow()
    report.commits += len(commits)


def _ingest(session: Session, settings: Settings, pk: int, later: Pending) -> None:
    """Ingest inline, in a savepoint: a message that crashes ingest is marked, the batch goes on."""
    row = session.get(Message, pk)
    assert row is not None
    try:
        with session.begin_nested():
            ingest_row(session, settings, row, pending=later)
    except Exception as exc:
        log.exception("event=ingest-crashed pk=%d source=archive", pk)
        row.status, row.reason = "error", f"ingest crashed: {exc!r}"[:2000]


def _mark_on_list(session: Session, msgids: list[str]) -> int:
    """Proof of delivery: the bot's own mails that the archive now holds are on the list."""
    if not msgids:
        return 0
    done = session.execute(update(OutboundMail).where(OutboundMail.message_id.in_(msgids),
                                                      OutboundMail.on_list_at.is_(None))
                           .values(on_list_at=utcnow()).execution_options(synchronize_session=False))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def _problem(settings: Settings, project: ProjectSettings, report: FollowReport, epoch: int | None, state: str,
             text: str) -> None:
    """Record it on the epoch (or the project) and tell the admins once per new fact."""
    report.problems.append(text)
    log.warning("event=follow-problem project=%s epoch=%s state=%s %s", project.name, epoch, state, text)
    with session_scope(settings.database_url) as session:
        follow = session.get(InboxFollow, project.name)
        if follow is not None:
            follow.last_error = text[:2000]
        if epoch is None:
            return
        row = _epoch_row(session, project.name, epoch)
        new_fact = row.state != state or state == "rewritten"
        row.state, row.error = state, text[:2000]
        if state == "rewritten":
            row.rewrites += 1
            row.cursor = None  # re-read from the start; the commits read so far stay counted
        if not new_fact or not settings.admin_addresses:
            return
        from bot.report.outbox import queue_mail

        domain = settings.bot_address.rsplit("@", 1)[-1]
        tag = f"{project.name}.{epoch}.{state}.{row.rewrites}.{int(utcnow().timestamp())}"
        queue_mail(session, OutgoingMail(
            key=f"inbox-{tag}", kind="admin-notice", to=settings.admin_addresses, cc=(),
            subject=f"[{settings.bot_name}] {project.name}: its public-inbox archive: epoch {epoch} {state}",
            body=(f"Following {project.inbox_url} (project {project.name}):\n\n{text}\n\n"
                  "Nothing is lost: what was stored stays stored, and the follower goes on with the other "
                  "epochs and tries this one again on its next round.\n"),
            in_reply_to=None, references=(), message_id=f"seriesbot.inbox-{tag}@{domain}",
            headers={"X-Seriesbot": settings.bot_name, "Auto-Submitted": "auto-generated"}),
            run_id=None, series_id=None)
    if settings.admin_addresses:
        queue.enqueue(queue.SEND_OUTBOX)


def follow_all(settings: Settings, projects: Iterable[ProjectSettings] | None = None) -> list[FollowReport]:
    reports = []
    for project in projects if projects is not None else settings.projects.values():
        if project.inbox_url:
            reports.append(follow_project(project, settings))
    return reports


def start_follower(settings: Settings, stop: threading.Event) -> threading.Thread | None:
    """A loop in the light worker (and so in `serve`): each project with an inbox_url, every
    `inbox_poll` seconds. None when no project follows an archive."""
    projects = [p for p in settings.projects.values() if p.inbox_url]
    if not projects:
        return None
    interval = max(0.2, min(p.inbox_poll for p in projects))

    def loop() -> None:
        client = httpx.Client(timeout=30, follow_redirects=True)  # one connection pool for every round
        while not stop.is_set():
            for project in projects:
                try:
                    follow_project(project, settings, client=client)
                except Exception:  # the bot's own fault: logged, and the next round tries again
                    log.exception("event=follow-failed project=%s", project.name)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="follower", daemon=True)
    thread.start()
    return thread
