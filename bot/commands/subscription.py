"""Joining and leaving the list by mail, and what the bot does with the list server's own mail.

- `subscription_request`: the join or leave request (Mailman 3: an empty mail to `<list>-join@` /
  `<list>-leave@`; Mailman 2: "subscribe" / "unsubscribe" to `<list>-request@`). Its outbox row is
  the record that the bot asked: a confirmation is answered only for a request the bot made in the
  last `REQUEST_WINDOW`, at most `MAX_ANSWERS` times per request.
- `handle_list_notice`: a confirmation is answered only when it really comes from that list (its
  `-confirm+<token>@` / `-request@` address at the list's domain, the list's List-Id, an envelope
  sender of that list) and the answer goes to an address made from the project's configuration,
  never from the mail. Welcome, goodbye, probes, moderation notices and digests are stored and
  marked; a delivery disabled after bounces, or the bot's own post held, is told to the admins.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.db.models import Message, OutboundMail, utcnow
from bot.ingest.listmail import ROLE_RE
from bot.records import OutgoingMail, ParsedMail
from bot.settings import ProjectSettings, Settings

log = logging.getLogger("seriesbot.subscription")
REQUEST_WINDOW = dt.timedelta(days=7)  # Mailman keeps a pending request 3 days by default
MAX_ANSWERS = 3
ACTIONS = ("subscribe", "unsubscribe")
# notices the admins must hear of: the bot no longer gets the list, or the list holds its replies
TELL_ADMINS = {
    "disabled": "disabled the bot's delivery after bounces: the bot no longer receives the list",
    "moderation": "holds a mail of the bot for moderation: its replies do not reach the list",
    "rejected": "rejected a mail of the bot",
}
# what a notice says about the bot's membership
MEMBERSHIP = {"welcome": "member", "goodbye": "not a member", "disabled": "member, delivery disabled by bounces"}


@dataclass(frozen=True)
class PendingRequest:
    action: str  # subscribe | unsubscribe
    created_at: dt.datetime


def _local_domain(address: str) -> tuple[str, str]:
    local, _, domain = address.lower().partition("@")
    return local, domain


def request_address(project: ProjectSettings, action: str) -> str:
    """Where a join or leave request goes (`subscribe_address` overrides the join address)."""
    local, domain = _local_domain(project.list_address)
    if project.subscribe_style == "mailman2":
        return (project.subscribe_address if action == "subscribe" and project.subscribe_address
                else f"{local}-request@{domain}")
    if action == "subscribe":
        return project.subscribe_address or f"{local}-join@{domain}"
    return f"{local}-leave@{domain}"


def subscription_request(settings: Settings, project: ProjectSettings, action: str = "subscribe",
                         now: dt.datetime | None = None) -> OutgoingMail:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    to = request_address(project, action)
    stamp = (now or utcnow()).strftime("%Y%m%d%H%M%S%f")
    subject, body = (action, f"{action}\n") if project.subscribe_style == "mailman2" else (
        "join" if action == "subscribe" else "leave", "")
    domain = settings.bot_address.rsplit("@", 1)[-1]
    return OutgoingMail(
        key=f"{action}/{project.name}/{to}/{stamp}", kind=action, to=(to,), cc=(), subject=subject, body=body,
        in_reply_to=None, references=(), message_id=f"seriesbot.{action}.{project.name}.{stamp}@{domain}",
        headers={"X-Seriesbot": settings.bot_name})


def pending_request(session: Session, project: str, now: dt.datetime | None = None) -> PendingRequest | None:
    """The bot's latest join or leave request for the project, if it is recent enough to confirm."""
    row = session.execute(
        select(OutboundMail.kind, OutboundMail.created_at)
        .where(OutboundMail.kind.in_(ACTIONS), or_(*(OutboundMail.key.like(f"{a}/{project}/%") for a in ACTIONS)))
        .order_by(OutboundMail.created_at.desc(), OutboundMail.id.desc()).limit(1)).first()
    if row is None or row.created_at < (now or utcnow()) - REQUEST_WINDOW:
        return None
    return PendingRequest(row.kind, row.created_at)


def project_of(settings: Settings, row: Message, parsed: ParsedMail) -> ProjectSettings | None:
    """The project whose list sent this: by List-Id (routed at store time), else by the sender being
    one of the list's own addresses (Mailman 2 sends confirmations without List-Id)."""
    if row.project in settings.projects:
        return settings.projects[row.project or ""]
    local, domain = _local_domain(parsed.from_email)
    role = ROLE_RE.match(local)
    for project in settings.projects.values():
        list_local, list_domain = _local_domain(project.list_address)
        if role and role.group("list").lower() == list_local and domain == list_domain:
            return project
    return None


def from_the_list(project: ProjectSettings, row: Message, parsed: ParsedMail) -> str | None:
    """None when the confirmation really comes from the project's list server, else why not."""
    list_local, list_domain = _local_domain(project.list_address)
    local, domain = _local_domain(parsed.from_email)
    role = ROLE_RE.match(local)
    if domain != list_domain or role is None or role.group("list").lower() != list_local:
        return f"not sent by the list's own address (from {parsed.from_email})"
    if role.group("role").lower() == "confirm" and (role.group("tag") or "").lower() != parsed.confirm_token:
        return "the token in the subject is not the one in the address"
    if parsed.list_id and parsed.list_id.lower() != project.list_id.lower():
        return f"List-Id {parsed.list_id} is not the project's ({project.list_id})"
    envelope = (row.envelope_from or "").strip("<>").lower()
    if envelope:
        env_local, env_domain = _local_domain(envelope)
        if env_domain != list_domain or not env_local.startswith(list_local + "-"):
            return f"envelope sender {envelope} is not the list's"
    return None


def confirmation_reply(settings: Settings, project: ProjectSettings, token: str, in_reply_to: str,
                       by_address: bool = True) -> OutgoingMail:
    """The answer, to an address made from the configuration: a forged confirmation can at most
    make the bot confirm a token at its own list server. `by_address`: the list asked from its
    `-confirm+<token>@` address (Mailman 3, or Mailman 2 with VERP); else (Mailman 2) "confirm
    <token>" goes to `-request@`."""
    local, domain = _local_domain(project.list_address)
    to = f"{local}-confirm+{token}@{domain}" if by_address else f"{local}-request@{domain}"
    bot_domain = settings.bot_address.rsplit("@", 1)[-1]
    return OutgoingMail(
        key=f"confirm/{project.name}/{token}", kind="subscribe-confirm", to=(to,), cc=(), subject=f"confirm {token}",
        body="", in_reply_to=in_reply_to, references=(in_reply_to,),
        message_id=f"seriesbot.confirm.{token}@{bot_domain}", headers={"X-Seriesbot": settings.bot_name})


def _answers_since(session: Session, project: str, since: dt.datetime) -> int:
    return session.scalar(select(func.count(OutboundMail.id)).where(
        OutboundMail.kind == "subscribe-confirm", OutboundMail.key.like(f"confirm/{project}/%"),
        OutboundMail.created_at >= since)) or 0


def _answer(session: Session, settings: Settings, project: ProjectSettings, row: Message,
            parsed: ParsedMail) -> str:
    from bot.report.outbox import queue_mail

    why_not = from_the_list(project, row, parsed)
    request = pending_request(session, project.name)
    wanted = {"confirm-join": "subscribe", "confirm-leave": "unsubscribe"}.get(parsed.list_notice or "")
    if why_not is None and request is None:
        why_not = f"the bot made no join or leave request in the last {REQUEST_WINDOW.days} days"
    elif why_not is None and request is not None and wanted and wanted != request.action:
        why_not = f"it confirms a {wanted}, and the bot's last request was to {request.action}"
    elif why_not is None and request is not None and _answers_since(session, project.name,
                                                                     request.created_at) >= MAX_ANSWERS:
        why_not = f"{MAX_ANSWERS} confirmations already answered for the bot's last request"
    if why_not or parsed.confirm_token is None:
        row.reason = f"list confirmation not answered: {why_not}"
        log.warning("event=confirmation-refused project=%s msgid=%s reason=%s", project.name, parsed.message_id,
                    why_not)
        return "ignored"
    assert request is not None
    by_address = parsed.from_email.lower().split("@")[0].endswith(f"-confirm+{parsed.confirm_token}")
    queue_mail(session, confirmation_reply(settings, project, parsed.confirm_token, parsed.message_id, by_address),
               run_id=None, series_id=None)
    row.reason = f"list confirmation answered (the bot's {request.action} request of {request.created_at:%Y-%m-%d %H:%M})"
    log.info("event=subscription-confirmed project=%s action=%s", project.name, request.action)
    return "parsed"


def _tell_admins(session: Session, settings: Settings, project: ProjectSettings, row: Message,
                 parsed: ParsedMail) -> str:
    from bot.report.outbox import queue_mail

    what = TELL_ADMINS[parsed.list_notice or ""]
    if not settings.admin_addresses:
        log.warning("event=list-notice-untold project=%s notice=%s (no admin_addresses)", project.name,
                    parsed.list_notice)
        return "; no admin_addresses to tell"
    domain = settings.bot_address.rsplit("@", 1)[-1]
    body = (f"The list server of {project.list_address} (project {project.name}) {what}.\n\n"
            f"Its mail, {parsed.subject!r}, Message-ID <{parsed.message_id}>:\n\n"
            + "\n".join("> " + line for line in (parsed.body or "").strip().splitlines()[:40])
            + "\n\nWhat to do: ask the list owner to re-enable (or approve) the bot's address "
              f"{settings.bot_address}, and check that mail to it reaches the bot.\n")
    queue_mail(session, OutgoingMail(
        key=f"list-{parsed.list_notice}/{project.name}/{row.id}", kind="admin-notice", to=settings.admin_addresses,
        cc=(), subject=f"[{settings.bot_name}] {project.name}: the list {what.split(':')[0]}", body=body,
        in_reply_to=None, references=(), message_id=f"seriesbot.admin-{parsed.list_notice}.{row.id}@{domain}",
        headers={"X-Seriesbot": settings.bot_name, "Auto-Submitted": "auto-generated"}), run_id=None, series_id=None)
    log.warning("event=list-notice-told project=%s notice=%s admins=%s", project.name, parsed.list_notice,
                ",".join(settings.admin_addresses))
    return "; the admins were told"


def handle_list_notice(session: Session, settings: Settings, row: Message, parsed: ParsedMail) -> str:
    """Store and mark the list server's own mail; answer a confirmation the bot asked for; tell the
    admins what they must know. Returns the message's status."""
    row.list_notice = parsed.list_notice
    project = project_of(settings, row, parsed)
    if project is None:
        row.reason = f"{parsed.ignore_reason}; from no configured list"
        return "ignored"
    row.project = project.name
    if (parsed.list_notice or "").startswith("confirm"):
        return _answer(session, settings, project, row, parsed)
    row.reason = parsed.ignore_reason or f"the list server's own mail ({parsed.list_notice})"
    if parsed.list_notice in TELL_ADMINS:
        row.reason += _tell_admins(session, settings, project, row, parsed)
    return "ignored"


def membership(session: Session, project: str) -> str:
    """What the list server last said about the bot's membership (for `subscribe`, `status`)."""
    notice = session.execute(
        select(Message.list_notice, Message.received_at).where(
            Message.project == project, Message.list_notice.in_(MEMBERSHIP))
        .order_by(Message.received_at.desc(), Message.id.desc()).limit(1)).first()
    request = pending_request(session, project)
    said = f"{MEMBERSHIP[notice.list_notice]} (the list said so {notice.received_at:%Y-%m-%d %H:%M})" if notice \
        else "unknown (no word from the list server yet)"
    if request and (notice is None or request.created_at > notice.received_at):
        said += f"; {request.action} requested {request.created_at:%Y-%m-%d %H:%M}, waiting for the list"
    return said
