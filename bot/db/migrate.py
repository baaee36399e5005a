"""Schema migrations (Alembic, run in-process). Every process calls `migrate` at start, serialised
by the caller's lock: a new database gets the whole schema, an older one the revisions it lacks, and
one made by `create_all` before migrations existed is completed and stamped. Alembic logs (INFO) only
when a revision is applied, or always with `seriesbot --verbose`: a database already at the head is
checked without a word (the level is set by bot.logs.setup)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.db.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ALEMBIC_LOG = logging.getLogger("alembic")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _telling() -> Iterator[None]:
    """A revision is being applied: let Alembic say which (unless the logs are quieter still)."""
    before = ALEMBIC_LOG.level
    if before == logging.WARNING:
        ALEMBIC_LOG.setLevel(logging.INFO)
    try:
        yield
    finally:
        ALEMBIC_LOG.setLevel(before)


def migrate(connection: Connection) -> None:
    tables = set(inspect(connection).get_table_names())
    config = alembic_config(connection)
    if tables and "alembic_version" not in tables:
        with _telling():
            Base.metadata.create_all(connection)  # a database from before migrations: complete it, then stamp
            command.stamp(config, "head")
        return
    current = MigrationContext.configure(connection).get_current_revision() if tables else None
    if current is not None and current == ScriptDirectory.from_config(config).get_current_head():
        return
    with _telling():
        command.upgrade(config, "head")
