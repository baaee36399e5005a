"""`seriesbot rules list|check`: the API rules without a server. Registered by bot.cli by module
name (as Celery includes workers.tasks), so bot/ never imports workers/."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workers.rules import PROFILES, discover, rules_for_project, rules_markdown, title_of
from workers.rules.local import check_range


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = sub.add_parser("rules", help="API-conformance rules").add_subparsers(dest="rules_command", required=True)
    rl = rules.add_parser("list", help="every rule with id, severity and guide sentence")
    rl.add_argument("--markdown", action="store_true", help="the README's rules table")
    rl.set_defaults(handler=cmd_rules_list)
    rc = rules.add_parser("check", help="run the rules on a local commit range BASE..HEAD")
    rc.add_argument("--repo", default=".")
    rc.add_argument("--profile", action="append", choices=list(PROFILES))
    rc.add_argument("--json", action="store_true")
    rc.add_argument("range", help="BASE..HEAD")
    rc.set_defaults(handler=cmd_rules_check)


def cmd_rules_list(args: argparse.Namespace) -> int:
    if args.markdown:
        print(rules_markdown(discover()), end="")
        return 0
    for rule in discover():
        print(f"{rule.id}\t{rule.severity}\t{rule.scope}\t{title_of(rule)}")
        if rule.guide:
            print(f"\tguide: \"{rule.guide}\"")
        elif getattr(rule, "source", ""):
            print(f"\tsource: {rule.source}")  # type: ignore[attr-defined]
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    """Judge a local commit range with no server: what the bot would say, before posting."""
    rules = rules_for_project(tuple(args.profile or ["generic", "libvirt"]))
    try:
        results = check_range(Path(args.repo), args.range, rules)
    except ValueError as exc:
        print(f"seriesbot rules check: {exc}", file=sys.stderr)
        return 2
    errors = 0
    if args.json:
        print(json.dumps([{"index": r.index, "commit": r.sha, "subject": r.subject,
                           "findings": [{"rule_id": f.rule_id, "severity": str(f.severity), "path": f.path,
                                         "line": f.line, "message": f.message, "guide": f.guide,
                                         "patch_index": f.patch_index}
                                        for f in r.findings]} for r in results], indent=2))
    for r in results:
        errors += sum(1 for f in r.findings if f.severity == "error")
        if args.json:
            continue
        print(f"[{r.index}/{len(results)}] {r.sha[:12]} {r.subject}: {'ok' if not r.findings else ''}")
        for f in r.findings:
            where = f"{f.path}:{f.line}" if f.path else "(commit)"
            print(f"    {where}: {f.severity}: {f.message} [{f.rule_id}]")
    return 1 if errors else 0
