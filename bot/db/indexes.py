"""Indexes the read side (dashboard and API) needs, kept apart from the table definitions.

The series list pages newest first (created_at, id), optionally by project or state; per page it
fetches the newest run of each series (series_id, id) and those runs' results (run_id, index). The
overview counts active runs per project, the Atom feed lists finished runs per project. Tables made
by create_all get these with them; for a database made before an index existed, `create_missing`
runs after every create_all and adds what is missing (CREATE INDEX IF NOT EXISTS semantics)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, event
from sqlalchemy.engine import Connection

from bot.db.models import Base, CommandRow, OutboundMail, PatchResult, Run, Series

READ_SIDE = [
    Index("ix_series_created_id", Series.created_at, Series.id),
    Index("ix_series_state_created", Series.state, Series.created_at),
    Index("ix_series_project_state_created", Series.project, Series.state, Series.created_at),
    Index("ix_series_author_created", Series.author_email, Series.created_at),
    Index("ix_run_series_id_id", Run.series_id, Run.id),
    Index("ix_run_project_state", Run.project, Run.state),
    Index("ix_run_project_finished", Run.project, Run.finished_at),
    Index("ix_result_run_index", PatchResult.run_id, PatchResult.index),
    Index("ix_command_series_id_id", CommandRow.series_id, CommandRow.id),
    Index("ix_outbound_series_id_id", OutboundMail.series_id, OutboundMail.id),
]


@event.listens_for(Base.metadata, "after_create")
def create_missing(_target: Any, connection: Connection, **_kw: Any) -> None:
    for index in READ_SIDE:
        index.create(connection, checkfirst=True)
