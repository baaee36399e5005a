"""Report stage: load stored results into views, ask the policy, render, queue in the outbox, and
have the sender deliver. Called by tasks after each patch result and after each run."""

from __future__ import annotations

import logging
import re
import shlex
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Message, PatchResult, Run, Series
from bot.db.session import session_scope
from bot.report import patchwork, policy
from bot.report.outbox import queue_mail
from bot.report.render import (
    FindingView,
    IncompleteView,
    MailContext,
    ResultView,
    RunView,
    render_admin_alert,
    render_incomplete,
    render_patch_reply,
    render_refused,
    render_summary,
)
from bot.report.reproduce import NATIVE_FILE_OPTS, native_file_options
from bot.report.versiondiff import PatchOutcome, VersionComparison, compare
from bot.settings import ProjectSettings, Settings

log = logging.getLogger("seriesbot.report")


def mail_context(settings: Settings, project: ProjectSettings) -> MailContext:
    b = project.build
    def local(arg: str) -> str:
        return arg.replace("{src}", ".").replace("{build}", "build").replace("{jobs}", "$(nproc)")

    commands = [shlex.join(local(a) for a in c) for c in (b.setup, b.build, b.test) if c]
    return MailContext(public_url=settings.public_url, bot_name=settings.bot_name, bot_address=settings.bot_address,
                       command_prefix=settings.command_prefix, build_commands=tuple(commands),
                       to=project.report.to, cc_list=project.report.cc_list, max_bytes=project.report.max_bytes,
                       reproduce=project.report.reproduce, host_paths=host_paths(settings, project),
                       native_options=native_options(b.setup))


def host_paths(settings: Settings, project: ProjectSettings | None = None) -> tuple[tuple[str, str], ...]:
    """The bot's own paths in any text we mail, and what a reader sees instead: build directories are
    `build`, source trees the reader's clone, step logs their dashboard address, a local upstream or
    submodule mirror its name."""
    data = re.escape(str(settings.data_dir))
    work = rf"{data}/work/[^/\s]+/[^/\s]+"
    mirrors = [u for u in ((project.upstream, *project.submodules.values()) if project else ())
               if u.startswith("/") and not u.startswith(str(settings.data_dir))]
    return (
        *((re.escape(u.rstrip("/")), Path(u.rstrip("/")).name) for u in sorted(mirrors, key=len, reverse=True)),
        (rf"{work}/mirror\.git/worktrees/[^/\s]+/", ".git/"),
        (rf"{work}/[^/\s]*build[^/\s]*", "build"),
        (rf"{work}/[^/\s]+/", ""),
        (rf"{work}/[^/\s]+", "."),
        (rf"{work}\b", "."),
        (rf"{data}/logs/", f"{settings.public_url}/logs/"),
        (rf"{data}\b/?", ""),
        (rf"{re.escape(str(settings.config_path.parent))}/", ""),
    )


def native_options(setup: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The -D options of each meson native file the setup command names (read once per file)."""
    found: dict[str, tuple[str, ...]] = {}
    for i, arg in enumerate(setup):
        path = setup[i + 1] if arg in NATIVE_FILE_OPTS and i + 1 < len(setup) else (
            arg.split("=", 1)[1] if arg.startswith(tuple(f"{o}=" for o in NATIVE_FILE_OPTS)) else None)
        if path:
            options = _native_file(path)
            if options is not None:
                found[path] = options
    return found


@lru_cache(maxsize=32)
def _native_file(path: str) -> tuple[str, ...] | None:
    try:
        return native_file_options(Path(path).read_text())
    except OSError:
        return None


def result_view(session: Session, result: PatchResult) -> ResultView:
    patch = result.patch
    refs = session.scalar(select(Message.references).where(Message.id == patch.message_pk)) or []
    return ResultView(
        index=result.index, subject=patch.subject, message_id=patch.message_id, references=tuple(refs),
        author_email=patch.author_email, commit=result.commit, apply=result.apply, build=result.build,
        test=result.test, rules=result.rules, verdict=result.verdict, details=dict(result.details or {}),
        durations=dict(result.durations or {}),
        findings=tuple(FindingView(f.rule_id, f.severity, f.path, f.line, f.message, f.guide, f.patch_index)
                       for f in result.findings),
    )


def run_view(session: Session, settings: Settings, run: Run) -> RunView:
    series = run.series
    project = settings.projects.get(run.project)
    cover_refs: list[str] = []
    if series.cover_msgid:
        cover_refs = session.scalar(select(Message.references).where(Message.message_id == series.cover_msgid)) or []
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
    return RunView(
        run_id=run.id, series_id=series.id, project=run.project,
        list_address=project.list_address if project else "", title=series.title, version=series.version,
        total=series.total, author_email=series.author_email, cover_msgid=series.cover_msgid,
        cover_subject=series.cover_subject, cover_references=tuple(cover_refs), base_kind=run.base_kind,
        base_ref=run.base_ref, base_sha=run.base_sha, upstream_sha=run.upstream_sha,
        rebase_conflict=run.rebase_conflict, branch=run.branch, state=run.state, verdict=run.verdict,
        error=run.error, duration=duration, trigger=run.trigger,
        results=tuple(result_view(session, r) for r in run.results),
        private=series.private,
    )


def _previous_result(session: Session, run: Run, index: int) -> ResultView | None:
    """The same patch position in the previous finished run of this series (for "unchanged")."""
    previous = session.scalar(select(Run).where(Run.series_id == run.series_id, Run.id < run.id,
                                                Run.state == "done").order_by(Run.id.desc()).limit(1))
    if previous is None:
        return None
    for r in previous.results:
        if r.index == index:
            return result_view(session, r)
    return None


def report_patch(result_id: int, settings: Settings) -> bool:
    """Queue the reply to one patch. Returns True when a mail was queued."""
    with session_scope(settings.database_url) as session:
        result = session.get(PatchResult, result_id)
        if result is None:
            return False
        run = result.run
        project = settings.projects.get(run.project)
        if result.reported:
            return False
        result.reported = True
        if project is None or run.series.state == "superseded":
            return False
        view = result_view(session, result)
        if not policy.should_reply_to_patch(project.report, view, _previous_result(session, run, result.index)):
            return False
        mail = render_patch_reply(run_view(session, settings, run), view, mail_context(settings, project))
        return queue_mail(session, mail, run_id=run.id, series_id=run.series_id, dry_run=project.report.dry_run)


def report_run(run_id: int, settings: Settings) -> bool:
    with session_scope(settings.database_url) as session:
        run = session.get(Run, run_id)
        if run is None or run.state not in ("done", "error") or run.reported:
            return False
        run.reported = True
        project = settings.projects.get(run.project)
        if project is None:
            return False
        patchwork.post_checks_after_commit(session, settings, run)
        view = run_view(session, settings, run)
        if run.verdict == "refused":  # e.g. retest base=<what upstream does not have>: tell who asked
            if not run.requested_by:
                return False
            return queue_mail(session, render_refused(view, mail_context(settings, project), run.requested_by),
                              run_id=run.id, series_id=run.series_id)
        if run.state == "error":
            # infrastructure faults go to the admins and the dashboard, never to the list
            log.error("event=run-error-for-admins run=%d error=%s", run.id, run.error)
            if not settings.admin_addresses:
                return False
            alert = render_admin_alert(view, mail_context(settings, project), settings.admin_addresses)
            return queue_mail(session, alert, run_id=run.id, series_id=run.series_id)
        if run.series.superseded_by_id is not None or run.series.state == "superseded":
            return False  # a newer version replaced it while it ran: its result is no news
        if not policy.should_send_summary(project.report, view):
            return False
        unchanged = _unchanged_since(session, run)
        mail = render_summary(view, mail_context(settings, project), unchanged_since=unchanged,
                              since_previous=since_previous_version(session, run.series, run))
        return queue_mail(session, mail, run_id=run.id, series_id=run.series_id, dry_run=project.report.dry_run)


def _outcomes(session: Session, run: Run) -> list[PatchOutcome]:
    return [PatchOutcome(r.index, r.patch.patch_id, r.patch.title or r.patch.subject, r.verdict)
            for r in run.results]


def since_previous_version(session: Session, series: Series, run: Run | None = None) -> VersionComparison | None:
    """How this version's results compare with the previous version's last finished run."""
    if series.supersedes_id is None:
        return None
    previous = session.get(Series, series.supersedes_id)
    run = run or session.scalar(select(Run).where(Run.series_id == series.id, Run.state == "done")
                                .order_by(Run.id.desc()).limit(1))
    if previous is None or run is None:
        return None
    before = session.scalar(select(Run).where(Run.series_id == previous.id, Run.state == "done")
                            .order_by(Run.id.desc()).limit(1))
    old = _outcomes(session, before) if before is not None else [
        PatchOutcome(p.index, p.patch_id, p.title or p.subject, None) for p in previous.patches]
    return VersionComparison(previous.version, previous.id, compare(old, _outcomes(session, run)))


def _unchanged_since(session: Session, run: Run) -> int | None:
    previous = session.scalar(select(Run).where(Run.series_id == run.series_id, Run.id < run.id,
                                                Run.state == "done").order_by(Run.id.desc()).limit(1))
    if previous is None or len(previous.results) != len(run.results):
        return None
    before = {r.index: result_view(session, r) for r in previous.results}
    for r in run.results:
        old = before.get(r.index)
        if old is None or not policy.same_verdict(old, result_view(session, r)):
            return None
    return previous.id


def report_incomplete(series_id: int, settings: Settings) -> bool:
    """Tell the list (or the sender, for private testing) once that a series never completed."""
    with session_scope(settings.database_url) as session:
        series = session.get(Series, series_id)
        project = settings.projects.get(series.project) if series else None
        if series is None or project is None or series.state != "incomplete" or not project.report.summary:
            return False
        first = series.patches[0] if series.patches else None
        target = series.cover_msgid or (first.message_id if first else None)
        if target is None:
            return False
        subject = series.cover_subject or (first.subject if first else series.title)
        refs = session.scalar(select(Message.references).where(Message.message_id == target)) or []
        waited = (series.last_message_at - series.created_at).total_seconds()
        view = IncompleteView(
            series_id=series.id, project=series.project, list_address=project.list_address, title=series.title,
            version=series.version, total=series.total, arrived=tuple(p.index for p in series.patches),
            missing=tuple(series.missing), author_email=series.author_email, reply_to=target, reply_subject=subject,
            references=tuple(refs), waited_hours=max(project.incomplete_after, waited) / 3600, private=series.private)
        mail = render_incomplete(view, mail_context(settings, project))
        return queue_mail(session, mail, run_id=None, series_id=series.id, dry_run=project.report.dry_run)
