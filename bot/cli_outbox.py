"""`seriesbot outbox list|retry|send`: what the outbox holds, a failed mail sent again, due mail now."""

from __future__ import annotations

import argparse

from bot.bootstrap import command_settings as _settings
from bot.db.session import init_db

STATES = ("pending", "sending", "sent", "failed", "dry-run")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    outbox = sub.add_parser("outbox", help="mail the bot sends: list, retry a failed one, send due mail now")
    commands = outbox.add_subparsers(dest="outbox_command", required=True)
    listing = commands.add_parser("list", help="mails by state (default: failed)")
    listing.add_argument("--state", default="failed", choices=[*STATES, "all"])
    listing.add_argument("--limit", type=int, default=50)
    retry = commands.add_parser("retry", help="send failed mails again (ids or keys; none: every failed mail)")
    retry.add_argument("mails", nargs="*")
    commands.add_parser("send", help="send every due mail now")
    outbox.set_defaults(handler=cmd_outbox)


def cmd_outbox(args: argparse.Namespace) -> int:
    settings = _settings(args)
    init_db(settings.database_url)
    from bot.report.outbox import deliver_pending, list_mail, retry_failed

    if args.outbox_command == "list":
        rows = list_mail(settings, None if args.state == "all" else args.state, args.limit)
        for r in rows:
            print(f"{r.id:6d} {r.state:8s} attempts={r.attempts} {r.kind:14s} {r.key}  <{r.message_id}>")
            if r.state == "failed" and r.last_error:
                print(f"{'':7s}error: {r.last_error[:300]}")
        print(f"{len(rows)} mail(s) {args.state}")
        return 0
    if args.outbox_command == "retry":
        keys = retry_failed(settings, args.mails)
        if not keys:
            print("no failed mail matched" + (f": {' '.join(args.mails)}" if args.mails else ""))
            return 1
        print(f"{len(keys)} mail(s) queued again: {', '.join(keys)}")
    counts = deliver_pending(settings)
    print(f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}")
    return 0 if counts["failed"] == 0 else 1
