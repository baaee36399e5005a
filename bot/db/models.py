"""SQLAlchemy tables. Unique keys turn retries into no-ops: a Message-ID is stored once, a
(run, patch) has one result, a (run, patch, kind) one outbound mail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)

class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}

class Message(Base):
    """Every mail that reached us, raw, before anything else happens to it."""

    __tablename__ = "message"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    project: Mapped[str | None] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(32))  # smtp, lmtp, mbox, lore
    envelope_from: Mapped[str] = mapped_column(String(998), default="")
    envelope_to: Mapped[list[Any]] = mapped_column(default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # stored -> parsed | ignored | rejected | error
    status: Mapped[str] = mapped_column(String(16), default="stored", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="")  # patch, cover, reply, other
    subject: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str] = mapped_column(String(998), default="")
    in_reply_to: Mapped[str | None] = mapped_column(String(998), index=True)
    references: Mapped[list[Any]] = mapped_column(default=list)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"), index=True)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # old mail (an import, or an archive read from before following began): assembled into the
    # history, never a reason to run or to mail
    history: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # what assembly needs of a patch, cover or reply (bot.ingest.grouping.MailFacts as JSON), and the
    # first Message-ID of its thread: series are re-derived from all mails sharing a thread_root
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    thread_root: Mapped[str | None] = mapped_column(String(998), index=True)
    # the list server's own mail (confirm-join, welcome, probe, disabled, moderation, digest, ...):
    # stored and marked, never tested or answered (bot.ingest.listmail)
    list_notice: Mapped[str | None] = mapped_column(String(32), index=True)
    # the mail as its author sent it when the list changed it (From munging, subject prefix, footer):
    # what `git am` applies, so the commit has the real author; null when the list changed nothing
    author_raw: Mapped[bytes | None] = mapped_column(LargeBinary)

class Series(Base):
    __tablename__ = "series"
    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(Text)
    norm_title: Mapped[str] = mapped_column(Text, index=True)
    author_name: Mapped[str] = mapped_column(Text, default="")
    author_email: Mapped[str] = mapped_column(String(320), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    total: Mapped[int] = mapped_column(Integer, default=1)
    cover_msgid: Mapped[str | None] = mapped_column(String(998), index=True)
    cover_subject: Mapped[str | None] = mapped_column(Text)
    thread_root: Mapped[str | None] = mapped_column(String(998), index=True)
    # what the series' first mail (cover letter, else patch 1) replies to: a v2 threaded under v1
    replies_to: Mapped[list[Any]] = mapped_column(default=list)
    supersedes_msgids: Mapped[list[Any]] = mapped_column(default=list)  # "Supersedes: <msgid>" lines
    is_resend: Mapped[bool] = mapped_column(Boolean, default=False)
    is_rfc: Mapped[bool] = mapped_column(Boolean, default=False)
    base_commit: Mapped[str | None] = mapped_column(String(64))
    based_on: Mapped[list[Any]] = mapped_column(default=list)
    prerequisite_patch_ids: Mapped[list[Any]] = mapped_column(default=list)
    # incomplete, complete, queued, running, passed, warned, failed, error, superseded, merged, cancelled
    state: Mapped[str] = mapped_column(String(16), default="incomplete", index=True)
    missing: Mapped[list[Any]] = mapped_column(default=list)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"))
    private: Mapped[bool] = mapped_column(Boolean, default=False)  # mailed to the bot, not the list
    # bot.ingest.grouping: "<head msgid>|<author>|v<version>|<total>", what keeps its id stable
    group_key: Mapped[str | None] = mapped_column(Text, index=True)
    change_id: Mapped[str | None] = mapped_column(String(256), index=True)  # b4's "change-id:"
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # Date: of its earliest mail
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    last_message_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    patches: Mapped[list[Patch]] = relationship(
        back_populates="series", order_by="Patch.index", cascade="all, delete-orphan"
    )
    runs: Mapped[list[Run]] = relationship(back_populates="series", order_by="Run.id")

class Patch(Base):
    __tablename__ = "patch"
    __table_args__ = (UniqueConstraint("series_id", "index", name="uq_patch_series_index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("message.id"))
    subject: Mapped[str] = mapped_column(Text)
    author_name: Mapped[str] = mapped_column(Text, default="")
    author_email: Mapped[str] = mapped_column(String(320), default="")
    patch_id: Mapped[str | None] = mapped_column(String(64), index=True)  # git patch-id --stable
    title: Mapped[str] = mapped_column(Text, default="", server_default="")  # subject without its tags
    # a hash of the normalised title: finds the earlier versions of a patch (bot.ingest.versions)
    title_key: Mapped[str | None] = mapped_column(String(32), index=True)
    trailers: Mapped[list[Any]] = mapped_column(default=list)  # [[name, value, from_msgid], ...]
    merged_commit: Mapped[str | None] = mapped_column(String(64))
    series: Mapped[Series] = relationship(back_populates="patches")

class Run(Base):
    __tablename__ = "run"
    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    trigger: Mapped[str] = mapped_column(String(32), default="new-series")  # new-series, retest, web, ...
    requested_by: Mapped[str] = mapped_column(String(320), default="")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # base override, rules_only, force
    # queued, running, done, cancelled, error
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    verdict: Mapped[str | None] = mapped_column(String(16))  # ok, warn, fail, error
    base_kind: Mapped[str | None] = mapped_column(String(16))  # tip, base-commit, based-on, override
    base_ref: Mapped[str | None] = mapped_column(String(256))
    base_sha: Mapped[str | None] = mapped_column(String(64))
    upstream_sha: Mapped[str | None] = mapped_column(String(64))
    rebase_conflict: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    branch: Mapped[str | None] = mapped_column(String(256))
    worker: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reported: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # infrastructure retries so far
    series: Mapped[Series] = relationship(back_populates="runs")
    results: Mapped[list[PatchResult]] = relationship(back_populates="run", order_by="PatchResult.index")

class PatchResult(Base):
    __tablename__ = "patch_result"
    __table_args__ = (UniqueConstraint("run_id", "patch_id", name="uq_result_run_patch"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    patch_id: Mapped[int] = mapped_column(ForeignKey("patch.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    commit: Mapped[str | None] = mapped_column(String(64))
    apply: Mapped[str] = mapped_column(String(16), default="pending")
    build: Mapped[str] = mapped_column(String(16), default="pending")
    test: Mapped[str] = mapped_column(String(16), default="pending")
    rules: Mapped[str] = mapped_column(String(16), default="pending")
    verdict: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # what a person needs: conflict files, compiler errors, failing tests, "fixed by this patch" notes
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    durations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    logs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # step -> path relative to logs dir
    reported: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    reuse_key: Mapped[str | None] = mapped_column(String(64), index=True)
    reused_from: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    run: Mapped[Run] = relationship(back_populates="results")
    patch: Mapped[Patch] = relationship()
    findings: Mapped[list[FindingRow]] = relationship(
        back_populates="result", order_by="FindingRow.id", cascade="all, delete-orphan"
    )

class FindingRow(Base):
    __tablename__ = "finding"
    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("patch_result.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    guide: Mapped[str] = mapped_column(Text, default="")
    patch_index: Mapped[int | None] = mapped_column(Integer)  # series rules: the patch that brought it in
    result: Mapped[PatchResult] = relationship(back_populates="findings")

class Baseline(Base):
    """Upstream's own verdict at a commit, so a patch is blamed only for what it changed."""

    __tablename__ = "baseline"
    __table_args__ = (UniqueConstraint("project", "sha", "config_version", name="uq_baseline"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(64))
    sha: Mapped[str] = mapped_column(String(64))
    config_version: Mapped[str] = mapped_column(String(32))
    build_ok: Mapped[bool] = mapped_column(Boolean)
    build_errors: Mapped[list[Any]] = mapped_column(default=list)
    failed_tests: Mapped[list[Any]] = mapped_column(default=list)
    durations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

class CommandRow(Base):
    __tablename__ = "command"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("message.id"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"), index=True)
    sender: Mapped[str] = mapped_column(String(320))
    verb: Mapped[str] = mapped_column(String(32))
    args: Mapped[list[Any]] = mapped_column(default=list)
    allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str] = mapped_column(Text, default="")
    replied: Mapped[bool] = mapped_column(Boolean, default=False)  # a reply mail was queued for it
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

class OutboundMail(Base):
    __tablename__ = "outbound_mail"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    to: Mapped[list[Any]] = mapped_column(default=list)
    cc: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[str] = mapped_column(Text)
    # pending, sending, sent, failed (refused for good, attempts exhausted, or its outcome unknown twice), dry-run
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # sends whose outcome is unknown (the sender died or the connection broke after the message text):
    # the first is looked up on the list archive, then resent once with the same Message-ID
    unknown_outcomes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # proof of delivery: when the list's public-inbox archive was seen holding this mail (following)
    on_list_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

Index("ix_series_project_created", Series.project, Series.created_at)
Index("ix_outbound_state_next", OutboundMail.state, OutboundMail.next_attempt_at)


class InboxFollow(Base):
    """A project that follows its list's public-inbox archive (bot.receive.follow). What the archive
    held when following began is history: stored and assembled, never run or answered."""

    __tablename__ = "inbox_follow"
    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_epoch: Mapped[int | None] = mapped_column(Integer)
    last_commit: Mapped[str | None] = mapped_column(String(64))  # the newest archive commit read
    last_error: Mapped[str] = mapped_column(Text, default="")
    # the first round is over: every epoch there was then has its history boundary
    begun: Mapped[bool] = mapped_column(Boolean, default=False)


class InboxEpoch(Base):
    """The cursor in one epoch (one git repository) of a followed archive: every commit up to and
    including `cursor` has been stored. It only moves after what it covers is committed."""

    __tablename__ = "inbox_epoch"
    __table_args__ = (UniqueConstraint("project", "epoch", name="uq_inbox_epoch"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    cursor: Mapped[str | None] = mapped_column(String(64))
    # the epoch's head when following began: it and its ancestors are history (null: none of it is)
    history_until: Mapped[str | None] = mapped_column(String(64))
    commits: Mapped[int] = mapped_column(Integer, default=0)  # commits read so far
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok, missing, rewritten, error
    rewrites: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ProjectLock(Base):
    """One row per project; updating it serialises series assembly for that project on both
    SQLite (a write lock) and PostgreSQL (a row lock), so two patches of one series arriving at
    the same moment cannot start two series."""

    __tablename__ = "project_lock"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)


class MirrorState(Base):
    """The upstream commit up to which merged patches have been looked for."""

    __tablename__ = "mirror_state"
    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    checked_sha: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class WorkerHeartbeat(Base):
    """A worker process says it is alive, what it serves and what it runs (dashboard, status)."""

    __tablename__ = "worker_heartbeat"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    queues: Mapped[list[Any]] = mapped_column(default=list)
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    current_run_id: Mapped[int | None] = mapped_column(Integer)
    # what the worker's build sandbox enforces here (workers.bwrap.Support), set at its start
    sandbox: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
