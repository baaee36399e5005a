"""Pure: stored results -> OutgoingMail records. Plain text, wrapped for mail, short: the first
lines say the verdict, each step is one line when it passed, and only what helps when it failed.
Everything else is behind the dashboard link."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.records import OutgoingMail
from bot.report.patchtext import cell as _cell
from bot.report.patchtext import patch_lines, wrap, wrap_title
from bot.report.reproduce import command_lines, fold_long_lines, jobs_used, scrub
from bot.report.versiondiff import VersionComparison, render_lines

STEPS = ("apply", "build", "test", "rules")


@dataclass(frozen=True)
class FindingView:
    rule_id: str
    severity: str
    path: str
    line: int
    message: str
    guide: str
    patch_index: int | None = None


@dataclass(frozen=True)
class ResultView:
    index: int
    subject: str
    message_id: str
    references: tuple[str, ...]
    author_email: str
    commit: str | None
    apply: str
    build: str
    test: str
    rules: str
    verdict: str
    details: dict[str, Any]
    durations: dict[str, float]
    findings: tuple[FindingView, ...] = ()


@dataclass(frozen=True)
class RunView:
    run_id: int
    series_id: int
    project: str
    list_address: str
    title: str
    version: int
    total: int
    author_email: str
    cover_msgid: str | None
    cover_subject: str | None
    cover_references: tuple[str, ...]
    base_kind: str | None
    base_ref: str | None
    base_sha: str | None
    upstream_sha: str | None
    rebase_conflict: dict[str, Any] | None
    branch: str | None
    state: str
    verdict: str | None
    error: str
    duration: float | None
    trigger: str
    results: tuple[ResultView, ...] = field(default_factory=tuple)
    private: bool = False  # mailed straight to the bot: answer the sender only


@dataclass(frozen=True)
class MailContext:
    """Deployment facts the text needs: where the dashboard is, who we are, how to reproduce."""

    public_url: str
    bot_name: str
    bot_address: str
    command_prefix: str
    build_commands: tuple[str, ...]
    to: str = "list"  # list | author
    cc_list: bool = True
    max_bytes: int = 10 * 1024
    # the project's own reproduce lines (report.reproduce), shown instead of the commands that ran
    reproduce: tuple[str, ...] = ()
    # (regular expression, replacement): the bot's own paths, replaced by what a reader can use
    host_paths: tuple[tuple[str, str], ...] = ()
    # a meson native/cross file the steps name -> the -D options it holds (spelled out for readers)
    native_options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return self.bot_address.rsplit("@", 1)[-1]


def _short(sha: str | None) -> str:
    return (sha or "?")[:12]


def base_line(run: RunView) -> str:
    if run.base_kind == "base-commit":
        line = f"Tested on: the series' declared base-commit {_short(run.base_sha)}"
    elif run.base_kind == "override":
        line = f"Tested on: {run.base_ref} at {_short(run.base_sha)} (as requested)"
    elif run.base_kind == "based-on":
        line = f"Tested on: the series it is based on ({run.base_ref}) at {_short(run.base_sha)}"
    else:
        line = f"Tested on: current tip of {run.base_ref or 'the branch'} at {_short(run.base_sha)}"
    return line


def rebase_note(run: RunView) -> list[str]:
    conflict = run.rebase_conflict
    if not conflict:
        return []
    files = ", ".join(conflict.get("files") or []) or "unknown files"
    return _wrap(f"Note: applies to its base {_short(run.base_sha)} but conflicts with current upstream "
                 f"{_short(conflict.get('upstream'))} in {files} at patch {conflict.get('index')} - please rebase.")


_wrap = wrap


def verdict_word(verdict: str | None) -> str:
    return {"ok": "PASS", "warn": "WARN", "fail": "FAIL", "blocked": "STILL BROKEN", "skip": "NOT TESTED",
            "error": "ERROR"}.get(verdict or "", "PENDING")


def result_header_value(verdict: str | None) -> str:
    return {"ok": "pass", "warn": "warn", "fail": "fail", "blocked": "fail"}.get(verdict or "", "warn")


def failed_steps(result: ResultView) -> list[str]:
    return [s for s in STEPS if getattr(result, s) in ("fail", "warn", "error", "blocked")]


def _footer(ctx: MailContext) -> list[str]:
    p = ctx.command_prefix
    return ["-- ", f"{ctx.bot_name}: automated build, test and API-rule checks for every patch.",
            f'Reply "{p} retest" to test again, "{p} help" for more.']


def _reproduce(run: RunView, result: ResultView | None, ctx: MailContext) -> list[str]:
    """git fetch + checkout of what was tested, then the project's own reproduce text, else the
    commands that really ran (from the result, else the first result that has them), in a reader's
    paths; the configured commands only for results stored before the bot recorded them."""
    if not run.branch:
        return []
    lines = ["Reproduce locally:", f"  git fetch {ctx.public_url}/git/{run.project}.git {run.branch}"]
    commit = result.commit if result else None
    lines.append(f"  git checkout {_short(commit) if commit else 'FETCH_HEAD'}")
    ran = (result.details.get("commands") if result else None) or next(
        (r.details["commands"] for r in run.results if r.details.get("commands")), None)
    if ctx.reproduce:
        jobs = jobs_used(ran)
        lines.extend(f"  {line.replace('{jobs}', jobs)}" for line in ctx.reproduce)
    elif isinstance(ran, dict):
        native = {**{scrub(k, ctx.host_paths): v for k, v in ctx.native_options.items()}, **ctx.native_options}
        lines.extend(command_lines(ran, native, ctx.host_paths))
    else:
        lines.extend(f"  {c}" for c in ctx.build_commands)
    return lines


def _recipients(run: RunView, author: str, ctx: MailContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if run.private:
        return (author,), ()
    if ctx.to == "author":
        return (author,), ((run.list_address,) if ctx.cc_list and run.list_address else ())
    return (run.list_address,), ((author,) if author else ())


def _reply_subject(subject: str) -> str:
    """One line, single-spaced: a subject read from a folded header keeps no newline or leading space."""
    subject = " ".join(subject.split())
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def mail_text(body: str, ctx: MailContext) -> str:
    """The last pass over every body: the bot's paths replaced, no line longer than SMTP allows."""
    return fold_long_lines(scrub(body, ctx.host_paths))


def capped(lines: list[str], ctx: MailContext, link: str) -> str:
    """The body, cut to the configured size with a pointer to the dashboard for the rest."""
    lines = mail_text("\n".join(lines), ctx).split("\n")
    body = "\n".join(lines) + "\n"
    if len(body.encode()) <= ctx.max_bytes:
        return body
    note = f"[... cut to {ctx.max_bytes} bytes; everything is on the dashboard: {link}]\n"
    budget = ctx.max_bytes - len(note.encode()) - 200
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode()) + 1
        if size > budget:
            break
        kept.append(line)
    footer = _footer(ctx)
    return "\n".join(kept) + "\n" + note + "\n".join(footer) + "\n"


def _headers(verdict: str | None, ctx: MailContext) -> dict[str, str]:
    return {
        "X-Seriesbot-Result": result_header_value(verdict),
        "X-Seriesbot": ctx.bot_name,
        "Auto-Submitted": "auto-generated",
        "X-Loop": ctx.bot_address,
        "Precedence": "bulk",
    }


def _clean(value: Any, ctx: MailContext) -> Any:
    """Stored text with the bot's paths replaced, before it is wrapped (a wrapped path is not found)."""
    if isinstance(value, str):
        return scrub(value, ctx.host_paths)
    if isinstance(value, list | tuple):
        return type(value)(_clean(v, ctx) for v in value)
    if isinstance(value, dict):
        return {k: _clean(v, ctx) for k, v in value.items()}
    return value


def clean_view(run: RunView, ctx: MailContext) -> RunView:
    if not ctx.host_paths:
        return run
    results = tuple(replace(r, details=_clean(r.details, ctx)) for r in run.results)
    return replace(run, error=_clean(run.error, ctx), results=results)


def render_patch_reply(run: RunView, result: ResultView, ctx: MailContext) -> OutgoingMail:
    run = clean_view(run, ctx)
    result = replace(result, details=_clean(result.details, ctx)) if ctx.host_paths else result
    steps = failed_steps(result)
    verdict = verdict_word(result.verdict)
    head = f"{verdict}: patch {result.index}/{run.total}" + (f" ({', '.join(steps)})" if steps else "")
    body = [head, "", base_line(run), *rebase_note(run), ""]
    body.extend(patch_lines(result))
    body += ["", f"Logs: {ctx.public_url}/series/{run.series_id}#patch-{result.index}", ""]
    reproduce = _reproduce(run, result, ctx)
    if reproduce:
        body += [*reproduce, ""]
    body += _footer(ctx)
    to, cc = _recipients(run, result.author_email, ctx)
    return OutgoingMail(
        key=f"run-{run.run_id}/patch-{result.index}/reply",
        kind="patch-reply",
        to=to, cc=cc,
        subject=_reply_subject(result.subject),
        body=capped(body, ctx, f"{ctx.public_url}/series/{run.series_id}#patch-{result.index}"),
        in_reply_to=result.message_id,
        references=(*result.references, result.message_id),
        message_id=f"seriesbot.run-{run.run_id}.patch-{result.index}.reply@{ctx.domain}",
        headers=_headers(result.verdict, ctx),
    )


def render_summary(run: RunView, ctx: MailContext, unchanged_since: int | None = None,
                   since_previous: VersionComparison | None = None) -> OutgoingMail:
    run = clean_view(run, ctx)
    results = run.results
    counts = {v: sum(1 for r in results if r.verdict == v) for v in ("ok", "warn", "fail", "blocked", "skip", "error")}
    verdict = run.verdict if run.state == "done" else ("error" if run.state == "error" else run.state)
    head = f"{verdict_word(verdict)}: {run.title} (v{run.version}, {run.total} patch{'es' if run.total != 1 else ''})"
    body = _wrap(head) + ["", base_line(run), *rebase_note(run)]
    if run.branch:
        body.append(f"Applied series: git fetch {ctx.public_url}/git/{run.project}.git {run.branch}")
    if since_previous is not None:
        body += ["", *render_lines(since_previous)]
    if unchanged_since:
        body += ["", f"Unchanged since run {unchanged_since}: every patch has the same verdict, so the"
                     " per-patch replies are not repeated."]
    if run.state == "error":
        body += ["", "The bot could not finish this run (an infrastructure problem on our side, not the",
                 "series). The admins have been told; it will be retried."]
    body += ["", "  #  apply  build  test   rules  patch"]
    for r in results:
        cells = "  ".join(_cell(getattr(r, s)) for s in STEPS)
        title = " ".join((r.subject.split("]", 1)[-1] if "]" in r.subject else r.subject).split())
        lead = f"{r.index:3d}  {cells}  "
        body.extend(wrap_title(lead, title))
    if counts["blocked"]:
        body.append("(still: still broken as an earlier patch left the tree; not this patch's doing)")
    body += ["", *_wrap(f"Totals: {counts['ok']} passed, {counts['warn']} with warnings, {counts['fail']} failed, "
                        + (f"{counts['blocked']} still broken, " if counts["blocked"] else "")
                        + f"{counts['skip']} not tested" + (f", {counts['error']} errors" if counts["error"] else "")
                        + (f"; time taken {run.duration:.0f} s." if run.duration is not None else "."))]
    body += [f"Dashboard: {ctx.public_url}/series/{run.series_id}", ""]
    reproduce = _reproduce(run, None, ctx)
    if reproduce:
        body += [*reproduce, ""]
    body += _footer(ctx)
    body_text = capped(body, ctx, f"{ctx.public_url}/series/{run.series_id}")
    first = results[0] if results else None
    target = run.cover_msgid or (first.message_id if first else None)
    subject = run.cover_subject or (first.subject if first else run.title)
    references = run.cover_references if run.cover_msgid else (first.references if first else ())
    to, cc = _recipients(run, run.author_email, ctx)
    return OutgoingMail(
        key=f"run-{run.run_id}/summary",
        kind="summary",
        to=to, cc=cc,
        subject=_reply_subject(subject),
        body=body_text,
        in_reply_to=target,
        references=(*references, target) if target else tuple(references),
        message_id=f"seriesbot.run-{run.run_id}.summary@{ctx.domain}",
        headers=_headers(verdict, ctx),
    )


def render_admin_alert(run: RunView, ctx: MailContext, admins: tuple[str, ...]) -> OutgoingMail:
    """Infrastructure faults go to the admins, never to the list as the author's fault."""
    run = clean_view(run, ctx)
    error_lines = [w for line in (run.error or "unknown error").splitlines() for w in _wrap(line.strip(), "  ")]
    upstream = (run.error or "").startswith("upstream ")
    body = [f"Run {run.run_id} of series {run.series_id} ({run.project}: {run.title}) failed on our side:", "",
            *error_lines, "",
            f"Dashboard: {ctx.public_url}/series/{run.series_id}", "", "Nothing was mailed to the list."]
    what = "upstream does not build" if upstream else "infrastructure error"
    return OutgoingMail(
        key=f"run-{run.run_id}/admin-alert", kind="admin-alert", to=admins, cc=(),
        subject=f"[seriesbot] {what} in run {run.run_id} ({run.project})",
        body=mail_text("\n".join(body), ctx) + "\n", in_reply_to=None, references=(),
        message_id=f"seriesbot.run-{run.run_id}.admin-alert@{ctx.domain}", headers=_headers("fail", ctx))


@dataclass(frozen=True)
class IncompleteView:
    series_id: int
    project: str
    list_address: str
    title: str
    version: int
    total: int
    arrived: tuple[int, ...]
    missing: tuple[int, ...]
    author_email: str
    reply_to: str  # the cover letter, else the first patch that arrived
    reply_subject: str
    references: tuple[str, ...]
    waited_hours: float
    private: bool = False


def render_incomplete(view: IncompleteView, ctx: MailContext) -> OutgoingMail:
    """A series that never completed: said once, and not tested unless someone asks."""
    missing = ", ".join(str(i) for i in view.missing)
    body = [f"NOT TESTED: incomplete series ({len(view.arrived)} of {view.total} patches arrived)", "",
            *_wrap(f"After waiting {view.waited_hours:.0f} h, patch(es) {missing} of v{view.version} "
                   f"\"{view.title}\" have not reached the list, so the series was not tested."), "",
            *_wrap(f'Resend the missing patches, or reply "{ctx.command_prefix} retest" to test the '
                   "patches that did arrive."), "",
            f"Dashboard: {ctx.public_url}/series/{view.series_id}", "", *_footer(ctx)]
    run_like = RunView(0, view.series_id, view.project, view.list_address, view.title, view.version, view.total,
                       view.author_email, None, None, (), None, None, None, None, None, None, "incomplete", None, "",
                       None, "incomplete", private=view.private)
    to, cc = _recipients(run_like, view.author_email, ctx)
    return OutgoingMail(
        key=f"series-{view.series_id}/incomplete", kind="incomplete", to=to, cc=cc,
        subject=_reply_subject(view.reply_subject), body=mail_text("\n".join(body), ctx) + "\n",
        in_reply_to=view.reply_to,
        references=(*view.references, view.reply_to),
        message_id=f"seriesbot.series-{view.series_id}.incomplete@{ctx.domain}", headers=_headers("warn", ctx))


def render_refused(run: RunView, ctx: MailContext, requester: str) -> OutgoingMail:
    """A requested run that could not be done as asked (a base that does not exist): to the requester."""
    run = clean_view(run, ctx)
    first = run.results[0] if run.results else None
    target = run.cover_msgid or (first.message_id if first else None)
    subject = run.cover_subject or (first.subject if first else run.title)
    body = [f"NOT TESTED: {run.trigger} of \"{run.title}\" (v{run.version}) could not be done:", "",
            *_wrap(run.error, "  "), "", f"Dashboard: {ctx.public_url}/series/{run.series_id}", "", *_footer(ctx)]
    return OutgoingMail(
        key=f"run-{run.run_id}/refused", kind="command-reply", to=(requester,), cc=(),
        subject=_reply_subject(subject), body=mail_text("\n".join(body), ctx) + "\n", in_reply_to=target,
        references=(*run.cover_references, target) if target else (),
        message_id=f"seriesbot.run-{run.run_id}.refused@{ctx.domain}", headers=_headers("warn", ctx))
