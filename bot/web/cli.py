"""`seriesbot series [QUERY]`: the series list on the command line, with the dashboard's query
language (`project:libvirt state:failed author:ada text`), as a table or as the API's JSON.
Also registers `seriesbot b4-check` (bot.integrations.b4check)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from bot.integrations import b4check

SYMBOL = {"ok": "+", "fail": "F", "blocked": "b", "warn": "w", "skip": "-", "error": "E", "running": "R", "queued": "."}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("series", help="list series with the dashboard's query language")
    parser.add_argument("query", nargs="*", help="e.g. project:demo state:failed author:ada words")
    parser.add_argument("--json", action="store_true", help="the same JSON as /api/series")
    parser.add_argument("--page", type=int, default=1)
    parser.add_argument("--per-page", type=int, default=50)
    parser.set_defaults(handler=run)
    b4check.register(sub)


def run(args: argparse.Namespace) -> int:
    from bot.db.session import init_db, session_scope
    from bot.settings import load_settings
    from bot.web import queries
    from bot.web.query import parse

    query = parse(" ".join(args.query))
    if query.errors:
        for error in query.errors:
            print(f"seriesbot series: {error}", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    init_db(settings.database_url)
    with session_scope(settings.database_url) as session:
        page = queries.series_list(session, query, page=max(1, args.page), per_page=max(1, min(args.per_page, 500)))
    if args.json:
        print(json.dumps(asdict(page), indent=2))
        return 0
    for row in page.series:
        cells = "".join(SYMBOL.get(c.verdict, "?") for c in row.patches)
        title = "".join(ch if ch.isprintable() else "\ufffd" for ch in row.title)  # no terminal escapes from mail
        author = "".join(ch if ch.isprintable() else "\ufffd" for ch in row.author_email)
        print(f"{row.id:6d}  {row.project:10s} {row.state:10s} {cells:12s} v{row.version} {title}  <{author}>")
    print(f"{page.total} series, page {page.page} of {page.pages}", file=sys.stderr)
    return 0
