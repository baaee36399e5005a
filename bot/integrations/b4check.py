"""`seriesbot b4-check`: b4's external CI check command. b4 (`review-perpatch-check-cmd` and
`review-series-check-cmd`) runs it with one patch mail (or a cover letter) on stdin and reads a JSON
array of {tool, status: pass|warn|fail, summary, url, details} from stdout; [] means nothing to
report. We look the Message-ID up on a seriesbot instance over its JSON API
(/api/patch-results?msgid=) and map the stored result: one entry each for build (with apply),
tests and rules for a patch, one series entry for a cover letter.

    git config b4.review-perpatch-check-cmd "seriesbot b4-check --url https://ci.example.org"
"""

from __future__ import annotations

import argparse
import email
import json
import sys
from typing import Any

import httpx

STATUS = {"ok": "pass", "warn": "warn", "fail": "fail", "blocked": "fail", "error": "fail", "skip": "warn"}
ORDER = {"pass": 0, "warn": 1, "fail": 2}
TIMEOUT = 20.0


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: ORDER[s], default="pass")


def _build(r: dict[str, Any], url: str) -> dict[str, Any]:
    d = r.get("details") or {}
    if r["apply"] == "fail":
        files = ", ".join(d.get("conflict_files") or [])
        return {"tool": "seriesbot/build", "status": "fail", "summary": f"does not apply{': ' + files if files else ''}",
                "url": url, "details": d.get("git_output", "")}
    if r["apply"] == "skip":
        return {"tool": "seriesbot/build", "status": "warn", "summary": d.get("apply_note") or "not tested",
                "url": url}
    status = STATUS.get(r["build"], "warn")
    summary = {"pass": "applied and built", "warn": "built with warnings", "fail": "build failed"}[status]
    if r["build"] == "skip":
        summary = d.get("test_note") or "not built"
    entry = {"tool": "seriesbot/build", "status": status, "summary": summary, "url": url}
    if d.get("build_errors") or d.get("build_note"):
        entry["details"] = "\n".join([d.get("build_note", ""), *d.get("build_errors", [])]).strip()
    return entry


def _test(r: dict[str, Any], url: str) -> dict[str, Any] | None:
    d = r.get("details") or {}
    if r["test"] == "skip":
        return None if r["build"] != "ok" else {"tool": "seriesbot/test", "status": "pass", "url": url,
                                                 "summary": d.get("test_note") or "not run for this patch"}
    status = STATUS.get(r["test"], "warn")
    failed = d.get("failed_tests") or []
    entry = {"tool": "seriesbot/test", "status": status, "url": url,
             "summary": f"{len(failed)} test(s) failed: " + ", ".join(t["name"] for t in failed)
             if failed else {"pass": "tests passed", "warn": "tests passed with warnings",
                             "fail": "tests failed"}[status]}
    if failed:
        entry["details"] = "\n\n".join(f"{t['name']}: {t.get('status', '')}\n{t.get('log_tail', '')}".strip()
                                       for t in failed)
    return entry


def _rules(r: dict[str, Any], url: str) -> dict[str, Any] | None:
    if r["rules"] == "skip":
        return None
    findings = r.get("findings") or []
    errors = sum(1 for f in findings if f["severity"] == "error")
    warnings = len(findings) - errors
    summary = ", ".join(p for p in (f"{errors} error(s)" if errors else "", f"{warnings} warning(s)"
                                    if warnings else "") if p) or "no findings"
    entry = {"tool": "seriesbot/rules", "status": STATUS.get(r["rules"], "warn"), "summary": summary, "url": url}
    if findings:
        entry["details"] = "\n".join(f"{f['path']}:{f['line']}: {f['severity']}: {f['message']} [{f['rule_id']}]"
                                     + (f"\n    \"{f['guide']}\"" if f.get("guide") else "") for f in findings)
    return entry


def checks_for(lookup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """b4's array for one mail, from the API's PatchLookup (None: the mail is unknown here)."""
    if lookup is None:
        return []
    url, run = lookup["url"], lookup.get("run")
    if run is None:
        why = "the series is incomplete" if lookup["series_state"] in ("incomplete", "partial") else "no run yet"
        return [{"tool": "seriesbot", "status": "warn", "summary": f"not tested: {why}", "url": url}]
    results = {r["index"]: r for r in run["results"]}
    if lookup["patch_index"] is None:  # cover letter: the series as a whole
        verdicts = [STATUS.get(r["verdict"], "warn") for r in run["results"]]
        done = len(run["results"])
        counts = ", ".join(f"{verdicts.count(s)} {s}" for s in ("pass", "warn", "fail") if verdicts.count(s))
        status = _worst(verdicts) if run["state"] in ("done", "error", "cancelled") else "warn"
        return [{"tool": "seriesbot", "status": status, "url": url,
                 "summary": f"v{lookup['version']} run {run['id']} {run['state']}: {done} patch(es) tested"
                            + (f" ({counts})" if counts else ""),
                 "details": "\n".join(f"patch {m['index']}: apply {m['apply']}, build {m['build']}, "
                                      f"test {m['test']}, rules {m['rules']}" for m in run["matrix"])}]
    r = results.get(lookup["patch_index"])
    if r is None:
        state = next((m["verdict"] for m in run["matrix"] if m["index"] == lookup["patch_index"]), run["state"])
        return [{"tool": "seriesbot", "status": "warn", "summary": f"run {run['id']}: this patch is {state}",
                 "url": url}]
    return [e for e in (_build(r, url), _test(r, url), _rules(r, url)) if e is not None]


def message_id(raw: bytes) -> str:
    msg = email.message_from_bytes(raw)
    return str(msg.get("message-id", "") or "").strip().strip("<>").strip()


def lookup(base_url: str, msgid: str, client: httpx.Client | None = None) -> dict[str, Any] | None:
    """The API's answer for the Message-ID; None when the instance does not know it (404)."""
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT)
    try:
        response = client.get(f"{base_url.rstrip('/')}/api/patch-results", params={"msgid": msgid})
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]
    finally:
        if own:
            client.close()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("b4-check", help="b4's CI check command: a patch mail on stdin, JSON results out")
    parser.add_argument("--url", default="", help="the seriesbot dashboard (default: public_url of the config)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    base = args.url
    if not base:
        from bot.settings import load_settings

        base = load_settings(args.config).public_url
    msgid = message_id(sys.stdin.buffer.read())
    if not msgid:
        print("[]")
        return 0
    try:
        found = lookup(base, msgid)
    except (httpx.HTTPError, ValueError) as exc:
        print(f"seriesbot b4-check: {base}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(checks_for(found), indent=2))
    return 0
