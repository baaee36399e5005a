"""Pure: raw bytes of one mail -> ParsedMail. Never raises on bad input: what is broken is
recorded in `problems`, and the caller stores the mail marked, never drops it."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from bot.ingest import b4compat, listmail
from bot.receive.store import header_msgid, normalise_msgid
from bot.records import CommandLine, ParsedMail, SubjectInfo

_POLICY = email.policy.compat32
MSGID_RE = re.compile(r"<([^<>\s]+)>")
DIFF_START_RE = re.compile(r"^(diff --git |--- (a/|/dev/null)|Index: |GIT binary patch)", re.M)
HUNK_RE = re.compile(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@", re.M)
BASE_COMMIT_RE = re.compile(r"^base-commit: *([0-9a-f]{7,64}) *$", re.M)
PREREQ_RE = re.compile(r"^prerequisite-patch-id: *([0-9a-f]{40,64}) *$", re.M)
BASED_ON_RE = re.compile(r"^Based-on: *(.+?) *$", re.M | re.I)
SUPERSEDES_RE = re.compile(r"^Supersedes: *(.+?) *$", re.M | re.I)
CHANGE_ID_RE = re.compile(r"^change-id: *([\w.+-]{6,200}) *$", re.M)  # b4 prep's series identity
UNSAFE_PATH_RE = re.compile(r"^(?:\+\+\+ |--- |diff --git |rename (?:from|to) |copy (?:from|to) )"
                            r"(?:.* )?(?:[ab]/)?(?:\.\./|.*/\.\./|\.git/|.*/\.git/)", re.M)
PATCH_ATTACHMENT_TYPES = {"text/x-patch", "text/x-diff", "application/x-patch", "text/x-patch; charset=utf-8"}


def _decode_part(part: bytes | str, charset: str | None) -> str:
    if isinstance(part, str):
        return part
    if charset and charset.lower() not in ("unknown-8bit", "us-ascii"):
        try:
            return part.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return part.decode("utf-8")  # raw 8-bit headers are not allowed, but UTF-8 is what is sent
    except UnicodeDecodeError:
        return part.decode("latin-1")


def decode_header_value(value: object) -> str:
    """RFC 2047 decoded and unfolded; raw 8-bit headers read as UTF-8, else Latin-1; never raises."""
    if value is None:
        return ""
    try:
        text = "".join(_decode_part(part, charset) for part, charset in decode_header(value))  # type: ignore[arg-type]
    except Exception:
        text = str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return re.sub(r"\s*\r?\n\s*", " ", text).strip()


def _payload_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, TypeError):
        return payload.decode("utf-8", "replace")


def _texts(msg: Message) -> tuple[str, list[str]]:
    """The message body text, and the texts of attachments that look like patches."""
    body = ""
    attachments: list[str] = []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").lower()
        filename = str(part.get_filename() or "").lower()
        is_attachment = "attachment" in disposition or bool(filename)
        if ctype in PATCH_ATTACHMENT_TYPES or (is_attachment and filename.endswith((".patch", ".diff"))):
            attachments.append(_payload_text(part))
        elif ctype == "text/plain" and not is_attachment and not body:
            body = _payload_text(part)
    return body.replace("\r\n", "\n"), [a.replace("\r\n", "\n") for a in attachments]


def split_patch(text: str) -> tuple[str, str]:
    """Split a patch mail body into (commit message, diff). No diff: (text, "")."""
    m = DIFF_START_RE.search(text)
    if not m:
        return text, ""
    diff = text[m.start():]
    markers = ("GIT binary patch", "Binary files ", "rename from ", "new file mode", "deleted file mode")
    if not HUNK_RE.search(diff) and not any(marker in diff for marker in markers):
        return text, ""
    message = text[: m.start()]
    # the '---' line before the diffstat ends the commit message
    sep = re.search(r"^---\s*$", message, re.M)
    if sep:
        message = message[: sep.start()]
    return message.rstrip() + "\n", diff


def _msgids(value: str) -> list[str]:
    found = MSGID_RE.findall(value or "")
    if not found and value and value.strip() and " " not in value.strip():
        found = [value.strip()]
    return [normalise_msgid(f) for f in found]


def find_commands(body: str, prefix: str) -> tuple[CommandLine, ...]:
    """`seriesbot: retest base=v1.2` lines; quoted lines ("> ...") are ignored."""
    commands = []
    low = prefix.lower()
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or not stripped.lower().startswith(low):
            continue
        words = stripped[len(prefix):].split()
        if words:
            commands.append(CommandLine(verb=words[0].lower()[:32], args=tuple(w[:256] for w in words[1:16])))
    return tuple(commands)


def _ignore_reason(msg: Message, from_email: str, bot_address: str, has_diff: bool,
                   lm: listmail.ListMail) -> str | None:
    if lm.notice:
        return f"the list server's own mail ({lm.notice}): stored, never tested or answered"
    if msg.get("X-Seriesbot") or from_email.lower() == bot_address.lower():
        return "our own mail"
    loop = str(msg.get("X-Loop", "") or "").lower()
    if loop and bot_address.lower() in loop:
        return "our own mail (X-Loop)"
    auto = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        return f"auto-submitted ({auto})"
    precedence = str(msg.get("Precedence", "") or "").strip().lower()
    # a list server marks every post "Precedence: list" (Mailman 3 does): only a mail that is no post
    # of a list (no List-Post, no Mailman verdict headers) is dropped for it
    list_post = bool(lm.list_post) or "X-Mailman-Rule-Misses" in msg or "X-Mailman-Rule-Hits" in msg
    if (precedence in ("bulk", "junk") or (precedence == "list" and not list_post)) and not has_diff:
        return f"precedence {precedence} without a patch"
    return_path = str(msg.get("Return-Path", "") or "").strip()
    if return_path == "<>":
        return "bounce (empty Return-Path)"
    ctype = msg.get_content_type()
    if ctype == "multipart/report" or "delivery-status" in str(msg.get("Content-Type", "")).lower():
        return "delivery report"
    return None


def parse_mail(raw: bytes, *, bot_address: str = "", command_prefix: str = "seriesbot:",
               list_addresses: tuple[str, ...] = ()) -> ParsedMail:
    """`list_addresses`: the posting addresses of the configured lists, to recognise a From: the
    list rewrote (besides the mail's own List-Post)."""
    problems: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=_POLICY)
    except Exception as exc:  # pragma: no cover - compat32 parses anything, kept for safety
        problems.append(f"unparseable: {exc!r}")
        msg = Message()
    if msg.defects:
        problems.extend(sorted({type(d).__name__ for d in msg.defects}))
    message_id = header_msgid(raw)
    if message_id.endswith("@missing-id.seriesbot"):
        problems.append("no Message-ID")
    if not msg.get("Date"):
        problems.append("no Date")
    subject = decode_header_value(msg.get("Subject"))
    from_name, from_email = parseaddr(decode_header_value(msg.get("From")))
    in_reply_to_ids = _msgids(str(msg.get("In-Reply-To", "") or ""))
    references = tuple(_msgids(str(msg.get("References", "") or "")))
    list_id = decode_header_value(msg.get("List-Id")) or None
    if list_id and "<" in list_id:
        list_id = list_id[list_id.rindex("<") + 1 :].rstrip(">").strip()
    try:
        body, attachments = _texts(msg)
    except Exception as exc:
        problems.append(f"body unreadable: {exc!r}")
        body, attachments = "", []
    # what the list server did: its own mail told from posts; prefix, From munging and footer undone,
    # so the author is the person who wrote the mail and the footer is no part of the patch
    lm = listmail.read_list_mail(msg, from_name=from_name, from_email=from_email, subject=subject, body=body,
                                 list_id=list_id, list_addresses=tuple(a.lower() for a in list_addresses))
    if lm.notice is None and (list_id or lm.list_post or lm.munged_from):
        body, had_footer = listmail.strip_footer(body) if body else (body, False)
        if had_footer:
            lm = replace(lm, changes=(*lm.changes, "footer"))
    problems.extend(lm.problems)
    subject, from_name, from_email = lm.subject, lm.author_name, lm.author_email
    info = b4compat.parse_subject(subject) if subject else SubjectInfo(title="")
    message, diff = split_patch(body)
    if not diff:
        for attachment in attachments:
            att_message, diff = split_patch(attachment)
            if diff:
                message = body + "\n" + att_message
                break
    reject = None
    if info.total > b4compat.MAX_SERIES_LENGTH or info.counter > info.total or info.total < 1:
        reject = f"implausible patch counter {info.counter}/{info.total}"
    elif diff and UNSAFE_PATH_RE.search(diff):
        reject = "the diff touches paths outside the tree (../) or inside .git/"
    if reject:
        problems.append(reject)
    ignore = _ignore_reason(msg, from_email, bot_address, bool(diff), lm)
    if lm.notice:
        kind = "other"  # never a patch, a cover or a command, whatever a digest carries
    elif reject and not info.is_reply:
        kind = "other"
    elif info.is_cover and info.is_patch_prefix and not info.is_reply:
        kind = "cover"
    elif diff and not info.is_reply:
        kind = "patch"
    elif info.is_reply or in_reply_to_ids or references:
        kind = "reply"
    else:
        kind = "other"
    text_for_trailers = message if kind == "patch" else body
    try:
        trailers = tuple(b4compat.find_trailers(text_for_trailers))
    except Exception as exc:
        problems.append(f"trailers unreadable: {exc!r}")
        trailers = ()
    scan = body
    return ParsedMail(
        message_id=message_id,
        subject=subject,
        subject_info=info,
        from_name=from_name,
        from_email=from_email.lower(),
        date=decode_header_value(msg.get("Date")),
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else None,
        references=references,
        list_id=list_id,
        kind=kind,
        to_addresses=tuple(addresses(decode_header_value(msg.get("To")) + ", " + decode_header_value(msg.get("Cc")))),
        diff=diff,
        body=message if kind == "patch" else body,
        trailers=trailers,
        base_commit=(m.group(1) if (m := BASE_COMMIT_RE.search(scan)) else None),
        prerequisite_patch_ids=tuple(PREREQ_RE.findall(scan)),
        based_on=tuple(v for line in BASED_ON_RE.findall(scan) for v in (_msgids(line) or [line.strip()])),
        supersedes=tuple(v for line in SUPERSEDES_RE.findall(scan) for v in _msgids(line)),
        change_id=(m.group(1) if (m := CHANGE_ID_RE.search(scan)) else None),
        commands=find_commands(body, command_prefix) if kind in ("reply", "other") and not lm.notice else (),
        ignore_reason=ignore,
        reject_reason=reject,
        problems=tuple(problems),
        list_notice=lm.notice,
        confirm_token=lm.confirm_token,
        list_changes=lm.changes,
        munged_from=lm.munged_from,
        archived_at=lm.archived_at,
    )


def addresses(value: str) -> list[str]:
    return [addr.lower() for _name, addr in getaddresses([value]) if addr]
