"""Pure: what a list server did to a mail, and what it sent on its own.

A list server changes a post on its way (Mailman 3 by default): a subject prefix (`[Devel] `, also
in front of `Re:`), a footer after the body (so after the diff of a patch), `From:` rewritten for
DMARC (`"Ada via Devel" <devel@…>`, the author moved to `Reply-To:` or `Cc:`; other servers keep
it in `X-Original-From:`), and `List-*` / `Archived-At` headers. It also sends mail of its own:
confirmations, welcome and goodbye notices, probes, "delivery disabled" warnings, moderation
notices and digests. `read_list_mail` tells both apart and undoes the changes; `author_copy`
rebuilds the mail as its author sent it, for `git am`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import formataddr, getaddresses, parseaddr

MAILTO_RE = re.compile(r"<mailto:([^>?]+)[^>]*>", re.I)
# Mailman 2 and 3 default footers start with this rule (47 underscores); any 20+ will do
FOOTER_RULE_RE = re.compile(r"^_{20,}\s*$")
FOOTER_WORDS_RE = re.compile(r"mailing list|unsubscribe|listinfo|list-?info|mailman", re.I)
VIA_RE = re.compile(r"^(?P<name>.*?)\s+via\s+(?P<list>.+)$", re.I)
ROLE_RE = re.compile(r"^(?P<list>.+?)-(?P<role>confirm|bounces|request|owner|admin|join|leave|subscribe|unsubscribe)"
                     r"(?:\+(?P<tag>[^@]*))?$", re.I)
TOKEN_RE = re.compile(r"^[0-9a-f]{12,64}$", re.I)
CONFIRM_SUBJECT_RE = re.compile(r"^(?:re:\s*)*confirm\s+([0-9a-f]{12,64})\s*$", re.I)
DIGEST_SUBJECT_RE = re.compile(r"\bDigest,\s+Vol\s+\d+,\s+Issue\s+\d+", re.I)
REPLY_RE = r"(?:(?:re|aw|sv|fwd?|fw)\s*:\s*)"

# (notice kind, subject pattern): Mailman 3 wording first, Mailman 2's after
NOTICE_SUBJECTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("welcome", re.compile(r"^Welcome to the .* mailing list", re.I)),
    ("goodbye", re.compile(r"You have been unsubscribed from|unsubscribed from the .* mailing list", re.I)),
    ("probe", re.compile(r"mailing list probe message", re.I)),
    ("disabled", re.compile(r"has been disabled|membership .* disabled", re.I)),
    ("moderation", re.compile(r"awaits moderator approval|held for moderation|post .* held", re.I)),
    ("rejected", re.compile(r"(?:post|message|request) .*(?:rejected|discarded)|was rejected", re.I)),
    ("digest", DIGEST_SUBJECT_RE),
)


@dataclass(frozen=True)
class ListMail:
    """What the list server did to one mail."""

    author_name: str
    author_email: str
    subject: str  # without the list's prefix
    notice: str | None = None  # the list server's own mail: confirm-join, welcome, probe, disabled, digest, ...
    confirm_token: str | None = None  # of a confirmation request
    munged_from: str | None = None  # the From: as the list rewrote it, when it did
    prefix: str | None = None  # the subject prefix removed, e.g. "[Devel]"
    list_post: str | None = None  # the posting address from List-Post
    archived_at: str | None = None
    changes: tuple[str, ...] = ()  # "from-munged", "subject-prefix", "footer"
    problems: tuple[str, ...] = ()


def _mailto(msg: Message, name: str) -> str | None:
    m = MAILTO_RE.search(str(msg.get(name, "") or ""))
    return m.group(1).strip().lower() if m else None


def _list_domains(msg: Message, list_id: str | None, list_addresses: tuple[str, ...]) -> set[str]:
    domains = {a.rpartition("@")[2] for a in list_addresses}
    for name in ("List-Post", "List-Help", "List-Owner", "List-Subscribe", "List-Unsubscribe"):
        address = _mailto(msg, name)
        if address:
            domains.add(address.rpartition("@")[2])
    if list_id and "." in list_id:
        domains.add(list_id.split(".", 1)[1].lower())
    return {d for d in domains if d}


def _prefix_names(msg: Message, list_id: str | None, list_post: str | None, description: str) -> set[str]:
    names = set()
    if list_id:
        names.add(list_id.split(".", 1)[0].lower())
    if list_post:
        names.add(list_post.partition("@")[0].lower())
    if description:
        names.add(description.strip().strip('"').lower())
    return {n for n in names if n}


def strip_prefix(subject: str, names: set[str]) -> tuple[str, str | None]:
    """`[Devel] Re: [PATCH]` -> `Re: [PATCH]`; `Re: [Devel] [PATCH]` -> `Re: [PATCH]`. Only a bracket
    naming the list (optionally with Mailman's post number) is removed: `[libvirt PATCH]` stays."""
    for name in sorted(names, key=len, reverse=True):
        pattern = re.compile(rf"^(?P<re>\s*{REPLY_RE}*)\[\s*{re.escape(name)}(?:\s+#?\d+)?\s*\]\s*", re.I)
        m = pattern.match(subject)
        if m:
            rest = subject[m.end():]
            return (m.group("re") or "") + rest, subject[m.start() + len(m.group("re") or ""):m.end()].strip()
    return subject, None


def strip_footer(text: str) -> tuple[str, bool]:
    """Remove a list footer from the end of a body: a rule of underscores followed by at most ten
    short lines that speak of the list (Mailman's default, and most custom ones)."""
    lines = text.split("\n")
    for i in range(len(lines) - 1, max(-1, len(lines) - 14), -1):
        if not FOOTER_RULE_RE.match(lines[i]):
            continue
        tail = "\n".join(lines[i + 1:])
        if len(lines) - i - 1 <= 10 and FOOTER_WORDS_RE.search(tail):
            kept = lines[:i]
            # only truly empty lines go: " " is a diff's context line for a blank line
            while kept and kept[-1] in ("", "\r"):
                kept.pop()
            return "\n".join(kept) + "\n", True
    return text, False


def _original_author(msg: Message, name: str, list_addresses: set[str]) -> tuple[str, str] | None:
    """Where the list put the author when it rewrote From: X-Original-From, else Reply-To, else Cc
    (Mailman 3 appends the author there, after what the poster had)."""
    original = parseaddr(str(msg.get("X-Original-From", "") or ""))
    if "@" in original[1]:
        return original[0], original[1].lower()
    for header in ("Reply-To", "Cc"):
        found = [(n, a.lower()) for n, a in getaddresses([str(v) for v in msg.get_all(header, [])])
                 if "@" in a and a.lower() not in list_addresses]
        named = [f for f in found if name and f[0].strip().lower() == name.strip().lower()]
        if named:
            return named[-1]
        if found:
            return found[-1]
    return None


def _notice(msg: Message, sender: str, subject: str, domains: set[str], list_post: str | None,
            body: str) -> tuple[str | None, str | None]:
    """(kind, confirmation token) of a list server's own mail; (None, None) for a post."""
    local, _, domain = sender.partition("@")
    role = ROLE_RE.match(local) if domain in domains else None
    content_types = {part.get_content_type() for part in msg.walk()} if msg.is_multipart() else set()
    if DIGEST_SUBJECT_RE.search(subject) and (role or list_post) or "multipart/digest" in content_types:
        return "digest", None
    if role is None:
        return None, None
    token = role.group("tag") if role.group("role").lower() == "confirm" else None
    m = CONFIRM_SUBJECT_RE.match(subject.strip())
    if token is None and m and role.group("role").lower() in ("request", "bounces", "confirm"):
        token = m.group(1)  # Mailman 2: "confirm <token>" from -request@
    if token and TOKEN_RE.match(token):
        text = f"{subject}\n{body}".lower()
        leave = re.search(r"\bto leave\b|unsubscri", text)
        join = re.search(r"\bto join\b|registration|\bsubscription\b", text)
        return ("confirm-leave" if leave and not join else "confirm-join" if join else "confirm"), token.lower()
    for kind, pattern in NOTICE_SUBJECTS:
        if pattern.search(subject):
            return kind, None
    return "list-notice", None


def read_list_mail(msg: Message, *, from_name: str, from_email: str, subject: str, body: str,
                   list_id: str | None, list_addresses: tuple[str, ...] = ()) -> ListMail:
    """Undo what the list server did; tell its own mail from posts."""
    list_post = _mailto(msg, "List-Post")
    raw_list_id = str(msg.get("List-Id", "") or "")
    description = raw_list_id[: raw_list_id.index("<")] if "<" in raw_list_id else ""
    known = {a.lower() for a in list_addresses} | ({list_post} if list_post else set())
    domains = _list_domains(msg, list_id, tuple(known))
    archived = str(msg.get("Archived-At", "") or "").strip().strip("<>") or None
    notice, token = (None, None) if "X-Mailman-Rule-Misses" in msg or "X-Mailman-Rule-Hits" in msg else \
        _notice(msg, from_email.lower(), subject, domains, list_post, body)
    changes: list[str] = []
    problems: list[str] = []
    name, address, munged = from_name, from_email.lower(), None
    via = VIA_RE.match(from_name or "")
    if notice is None and (address in known or (via and "X-Original-From" in msg)):
        real_name = via.group("name").strip().strip("'\"") if via else ""
        original = _original_author(msg, real_name, known)
        if original is not None:
            munged = formataddr((from_name, from_email))
            name, address = original[0] or real_name, original[1]
            changes.append("from-munged")
        elif via:
            problems.append("From: rewritten by the list, and the author is in no other header")
    prefix = None
    if notice is None and (list_id or list_post):
        subject, prefix = strip_prefix(subject, _prefix_names(msg, list_id, list_post, description))
        if prefix:
            changes.append("subject-prefix")
    return ListMail(author_name=name, author_email=address, subject=subject, notice=notice, confirm_token=token,
                    munged_from=munged, prefix=prefix, list_post=list_post, archived_at=archived,
                    changes=tuple(changes), problems=tuple(problems))


def _set_text(part: Message, text: str) -> None:
    charset = part.get_content_charset() or "utf-8"
    try:
        payload = text.encode(charset)
    except (LookupError, UnicodeEncodeError):
        charset, payload = "utf-8", text.encode("utf-8")
        part.set_param("charset", charset)
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "8bit"
    part.set_payload(payload.decode("ascii", "surrogateescape"))  # written back byte for byte


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload())
    try:
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _wrapped_original(msg: Message) -> Message | None:
    """The original of a DMARC-wrapped post: message/rfc822 itself, or its last part."""
    parts = [msg] if msg.get_content_type() == "message/rfc822" else (
        [p for p in msg.get_payload() if isinstance(p, Message)][-1:] if msg.is_multipart() else [])
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                return inner
    return None


def author_copy(raw: bytes, *, changes: tuple[str, ...], author_name: str, author_email: str,
                subject: str) -> bytes | None:
    """The mail as its author sent it (From, Subject and body without the list's changes), for
    `git am`; None when the list changed nothing."""
    import email
    from email.generator import BytesGenerator
    from email.header import Header
    from email.policy import compat32
    from io import BytesIO

    if not changes:
        return None
    msg = email.message_from_bytes(raw, policy=compat32)
    wrapped = _wrapped_original(msg) if "from-munged" in changes else None
    if wrapped is not None:  # DMARC "wrap_message": the author's mail is inside, untouched
        msg = wrapped
        changes = tuple(c for c in changes if c != "from-munged")
        if not changes:
            out = BytesIO()
            BytesGenerator(out, mangle_from_=False, policy=compat32).flatten(msg)
            return out.getvalue()
    if "from-munged" in changes:
        del msg["From"]
        msg["From"] = formataddr((author_name, author_email), charset="utf-8")
    if "subject-prefix" in changes:
        del msg["Subject"]
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    if "footer" in changes:
        leaves = [p for p in msg.walk() if not p.is_multipart() and p.get_content_type() == "text/plain"]
        if leaves:
            last = leaves[-1]
            text, removed = strip_footer(_text_of(last))
            if removed and not text.strip() and msg.is_multipart():
                for parent in msg.walk():  # a footer in a part of its own: drop the part
                    payload = parent.get_payload()
                    if parent.is_multipart() and isinstance(payload, list) and last in payload:
                        payload.remove(last)
            elif removed:
                _set_text(last, text)
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=compat32).flatten(msg)
    return out.getvalue()
