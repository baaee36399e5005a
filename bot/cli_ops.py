"""Operator subcommands of `seriesbot`: import, status, subscribe, and the rules on a local range.
Each is a thin call into its stage; bot.cli holds the parser and the long-running processes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.bootstrap import command_settings as _settings
from bot.bootstrap import prepare as _prepare
from bot.db.session import init_db


def cmd_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _prepare(settings)
    from bot.receive import importers

    project = settings.project(args.project) if args.project else None
    try:
        policy = importers.HistoryPolicy(test=args.test, since=_since(args.since))
        if args.import_command == "mbox":
            report = importers.import_mbox(Path(args.path), settings, project=project, progress=True, policy=policy)
        else:
            if project is None:
                project = next(iter(settings.projects.values()))
            report = importers.import_lore(project, args.message, settings, policy=policy)
    except (OSError, ValueError) as exc:
        print(f"seriesbot import: {exc}", file=sys.stderr)
        return 2
    print(f"seen {report.seen}, stored {report.stored}, already had {report.duplicates}, "
          f"rejected {report.rejected}; ingest: {report.statuses}")
    return 0


def cmd_follow(args: argparse.Namespace) -> int:
    """Read the archives once (`--once`) or until stopped, every project's `inbox_poll` seconds."""
    import signal
    import threading

    settings = _settings(args)
    _prepare(settings)
    import httpx

    from bot.receive.follow import follow_project

    projects = [settings.project(args.project)] if args.project else \
        [p for p in settings.projects.values() if p.inbox_url]
    if not projects or not all(p.inbox_url for p in projects):
        print("seriesbot follow: no project with an inbox_url", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    problems = 0
    client = httpx.Client(timeout=30, follow_redirects=True)
    while True:
        for project in projects:
            report = follow_project(project, settings, client=client, batch=max(1, args.batch))
            problems += len(report.problems)
            if args.once or report.stored or report.problems:
                print(f"{project.name}: epochs {report.epochs}, read {report.commits} commits, stored "
                      f"{report.stored} ({report.history} history, {report.rejected} over the size limit), "
                      f"already had {report.duplicates}, on the list {report.on_list}"
                      + "".join(f"\n  problem: {p}" for p in report.problems), flush=True)
        if args.once or stop.wait(max(0.2, min(p.inbox_poll for p in projects))):
            return 1 if args.once and problems else 0


def _since(value: str | None):  # type: ignore[no-untyped-def]
    """`--since 2026-11-30` (or an ISO time, UTC unless it says otherwise) -> naive UTC."""
    import datetime as dt

    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"--since: not an ISO date or time: {value!r}") from exc
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def cmd_subscribe(args: argparse.Namespace) -> int:
    """Send the join (or leave) request; the list server's confirmation is answered when it arrives,
    and only then: the request's outbox row is what says the bot asked."""
    settings = _settings(args)
    _prepare(settings)
    from bot import queue
    from bot.commands.subscription import membership, subscription_request
    from bot.db.session import session_scope
    from bot.report.outbox import deliver_pending, queue_mail

    action = "unsubscribe" if args.command == "unsubscribe" else "subscribe"
    project = settings.project(args.project)
    mail = subscription_request(settings, project, action)
    with session_scope(settings.database_url) as session:
        queued = queue_mail(session, mail, run_id=None, series_id=None)
    counts = deliver_pending(settings)
    queue.enqueue(queue.SEND_OUTBOX)
    with session_scope(settings.database_url) as session:
        state = membership(session, project.name)
    print(f"{action} request to {mail.to[0]} ({project.subscribe_style}): "
          f"{'queued' if queued else 'already queued'}; sent now: {counts['sent']}\n"
          f"membership of {project.list_address}: {state}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Queues, workers, leases and stuck items, from the database and the broker."""
    settings = _settings(args)
    init_db(settings.database_url)
    from bot.health import status

    report = status(settings)
    print("queues:")
    for name, depth in report.queues.items():
        print(f"  {name:40s} {depth}")
    print("workers:")
    for w in report.workers or [{"name": "(none)"}]:
        if "host" in w:
            print(f"  {w['name']:40s} {'alive' if w['alive'] else 'DEAD '} host={w['host']} run={w['run']} "
                  f"last_seen={w['last_seen']}")
            if w.get("sandbox"):
                print(f"  {'':40s} sandbox: {w['sandbox'].get('summary') or w['sandbox'].get('reason')}")
        else:
            print("  (none)")
    print("running runs (leases):")
    for r in report.running or []:
        print(f"  run {r['run']} series {r['series']} {r['project']} worker={r['worker']} lease_until={r['lease_until']}"
              + ("  EXPIRED" if r["lease_expired"] else ""))
    print("stuck:")
    for what, count in report.stuck.items():
        print(f"  {what:45s} {count}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    return 1 if report.problems else 0
