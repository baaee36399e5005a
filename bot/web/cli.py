"""`seriesbot series [QUERY]`: the series list on the command line, with the dashboard's query
language (`project:libvirt state:failed author:ada text`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("series", help="list series with the dashboard's query language")
    parser.add_argument("query", nargs="*", help="e.g. project:demo state:failed author:ada words")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bot.db.session import init_db, session_scope
    from bot.settings import load_settings
    from bot.web import queries

    settings = load_settings(args.config)
    init_db(settings.database_url)
    with session_scope(settings.database_url) as session:
        rows, total = queries.series_list(session)
    for row in rows:
        cells = "".join({"ok": "+", "fail": "F", "warn": "w", "skip": "-"}.get(c.verdict, ".") for c in row.patches)
        print(f"{row.id:6d}  {row.state:10s} {cells:12s} v{row.version} {row.title}  <{row.author_email}>")
    return 0
