"""Joining the list: the subscription request (Mailman 3's -join@ address, or Mailman 2's -request@
with "subscribe"), and recognising the list server's confirmation so it is answered without a
person (a reply to the confirmation address that keeps the token in the subject)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.records import OutgoingMail, ParsedMail
from bot.settings import ProjectSettings, Settings

# Mailman 3: From/Reply-To <list>-confirm+<token>@domain, Subject "confirm <token>".
# Mailman 2: From <list>-request@domain (or -confirm+<token>@ with VERP), Subject "confirm <token>".
CONFIRM_SUBJECT_RE = re.compile(r"^(?:re:\s*)*confirm\s+([0-9a-f]{12,64})\s*$", re.I)
CONFIRM_ADDRESS_RE = re.compile(r"^(?P<list>[^@+]+)-confirm\+(?P<token>[0-9a-f]{12,64})@(?P<domain>.+)$", re.I)


@dataclass(frozen=True)
class Confirmation:
    project: str
    token: str
    reply_to: str
    subject: str


def subscription_request(settings: Settings, project: ProjectSettings) -> OutgoingMail:
    if not project.subscribe_address:
        raise ValueError(f"project {project.name} has no subscribe_address")
    style = project.subscribe_style
    subject, body = ("subscribe", "subscribe\n") if style == "mailman2" else ("join", "")
    domain = settings.bot_address.rsplit("@", 1)[-1]
    return OutgoingMail(
        key=f"subscribe/{project.name}/{project.subscribe_address}", kind="subscribe", to=(project.subscribe_address,),
        cc=(), subject=subject, body=body, in_reply_to=None, references=(),
        message_id=f"seriesbot.subscribe.{project.name}@{domain}", headers={"X-Seriesbot": settings.bot_name})


def _list_domain(project: ProjectSettings) -> str:
    return project.list_address.rsplit("@", 1)[-1].lower()


def recognise(parsed: ParsedMail, reply_to: str, settings: Settings) -> Confirmation | None:
    """A confirmation request from the list server of one of our projects, or None."""
    sender = parsed.from_email.lower()
    candidates = [a for a in (reply_to.lower(), sender) if a]
    for project in settings.projects.values():
        list_local = project.list_address.split("@", 1)[0].lower()
        domain = _list_domain(project)
        for address in candidates:
            m = CONFIRM_ADDRESS_RE.match(address)
            if m and m.group("list").lower() == list_local and m.group("domain").lower() == domain:
                return Confirmation(project.name, m.group("token"), address, parsed.subject)
        s = CONFIRM_SUBJECT_RE.match(parsed.subject.strip())
        if s and sender in (f"{list_local}-request@{domain}", f"{list_local}-bounces@{domain}",
                            f"{list_local}-owner@{domain}"):
            target = reply_to.lower() or sender
            if not target.endswith("@" + domain):
                target = sender
            return Confirmation(project.name, s.group(1), target, parsed.subject)
    return None


def confirmation_reply(settings: Settings, confirmation: Confirmation, in_reply_to: str) -> OutgoingMail:
    domain = settings.bot_address.rsplit("@", 1)[-1]
    subject = confirmation.subject if confirmation.token in confirmation.subject else f"confirm {confirmation.token}"
    return OutgoingMail(
        key=f"confirm/{confirmation.project}/{confirmation.token}", kind="subscribe-confirm",
        to=(confirmation.reply_to,), cc=(), subject=subject if subject.lower().startswith("re:") else f"Re: {subject}",
        body="", in_reply_to=in_reply_to, references=(in_reply_to,),
        message_id=f"seriesbot.confirm.{confirmation.token}@{domain}", headers={"X-Seriesbot": settings.bot_name})
