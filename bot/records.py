"""Frozen records that cross stage boundaries. No I/O, no ORM."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(enum.StrEnum):
    """The verdict of one step, or of a patch (the worst of its steps)."""

    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    BLOCKED = "blocked"  # fails only as an earlier patch of the series made it fail ("still broken")
    SKIP = "skip"  # not run, with a reason (an earlier step or patch failed)
    ERROR = "error"  # the bot's own fault: infrastructure, never the author's

    @property
    def rank(self) -> int:
        return _RANK[self]

    @staticmethod
    def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
        return max(statuses, key=lambda s: s.rank, default=Status.PENDING)


_RANK = {
    Status.SKIP: 0, Status.OK: 1, Status.PENDING: 2, Status.RUNNING: 3,
    Status.WARN: 4, Status.BLOCKED: 5, Status.FAIL: 6, Status.ERROR: 7,
}


class Severity(enum.StrEnum):
    ERROR = "error"  # the guide's MUST
    WARNING = "warning"  # the guide's SHOULD
    INFRA = "infra"  # a rule crashed: for the admins, never a verdict against the patch


class Scope(enum.StrEnum):
    PATCH = "patch"  # judged after every patch
    SERIES_END = "series-end"  # "by the end of the series": judged on the last patch


@dataclass(frozen=True)
class SubjectInfo:
    """What a subject line says about its mail: `[libvirt PATCH v3 02/12] remote: add foo`."""

    title: str
    prefixes: tuple[str, ...] = ()
    version: int = 1
    counter: int = 1
    total: int = 1
    is_reply: bool = False
    is_patch_prefix: bool = False  # carries PATCH/RFC/PULL/RESEND in its tags
    is_rfc: bool = False
    is_resend: bool = False

    @property
    def is_cover(self) -> bool:
        return self.counter == 0


@dataclass(frozen=True)
class Trailer:
    name: str  # canonical case: "Reviewed-by"
    value: str

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


@dataclass(frozen=True)
class CommandLine:
    verb: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedMail:
    """One stored message, parsed. Pure function of its bytes (see bot.ingest.parse)."""

    message_id: str
    subject: str
    subject_info: SubjectInfo
    from_name: str
    from_email: str
    date: str
    in_reply_to: str | None
    references: tuple[str, ...]
    list_id: str | None
    kind: str
    to_addresses: tuple[str, ...] = ()  # To and Cc, lower case  # "patch" | "cover" | "reply" | "other"
    diff: str = ""
    body: str = ""
    trailers: tuple[Trailer, ...] = ()
    base_commit: str | None = None
    prerequisite_patch_ids: tuple[str, ...] = ()
    based_on: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()
    change_id: str | None = None  # b4's "change-id:" line: the same series across versions
    commands: tuple[CommandLine, ...] = ()
    ignore_reason: str | None = None  # set when the mail is not for us (our own, auto-reply, bounce)
    reject_reason: str | None = None  # set when it claims to be a patch we must not touch
    problems: tuple[str, ...] = ()  # malformed parts noticed while parsing
    # what a list server did (bot.ingest.listmail): its own mail (confirm-join, welcome, probe,
    # disabled, moderation, digest, ...), and what it changed in a post, undone above
    list_notice: str | None = None
    confirm_token: str | None = None
    list_changes: tuple[str, ...] = ()  # "from-munged", "subject-prefix", "footer"
    munged_from: str | None = None  # the From: as the list rewrote it; from_email is the author's
    archived_at: str | None = None

    @property
    def thread_ids(self) -> tuple[str, ...]:
        ids = list(self.references)
        if self.in_reply_to and self.in_reply_to not in ids:
            ids.append(self.in_reply_to)
        return tuple(ids)


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    path: str
    line: int
    message: str
    guide: str = ""
    patch_index: int | None = None  # for series rules: the patch that introduced the problem


@dataclass(frozen=True)
class CompilerMessage:
    path: str
    line: int
    column: int
    kind: str  # "error" | "warning"
    text: str
    function: str = ""  # the function it is in ("In function 'foo':", the linker's "in function")
    target: str = ""  # what ninja failed to make ("FAILED: src/libvirtd")

    def __str__(self) -> str:
        where = self.path
        if where and self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        text = f"{where}: {self.kind}: {self.text}" if where else f"{self.kind}: {self.text}"
        return text + (f" (in function '{self.function}')" if self.function else "")


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest class

    name: str
    status: str  # meson's: OK, FAIL, SKIP, TIMEOUT, EXPECTEDFAIL, UNEXPECTEDPASS, ERROR
    duration: float = 0.0
    log_tail: str = ""
    suite: str = ""  # meson's first suite of the test ("syntax-check"), without the project prefix


@dataclass(frozen=True)
class CommandResult:
    """What one sandboxed command did."""

    argv: tuple[str, ...]
    returncode: int | None
    duration: float
    output_path: str
    timed_out: bool = False
    output_capped: bool = False
    infra_error: str | None = None
    killed_reason: str | None = None  # timeout, output cap or memory: said in the log and the reply

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.output_capped and not self.infra_error


@dataclass(frozen=True)
class OutgoingMail:
    key: str  # unique per (run, patch, kind): a retry is a no-op
    kind: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    in_reply_to: str | None
    references: tuple[str, ...]
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)
