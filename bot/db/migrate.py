"""Schema migrations (Alembic, run in-process). Every process calls `migrate` at start, serialised
by the caller's lock: a new database gets the whole schema, an older one the revisions it lacks, and
one made by `create_all` before migrations existed is completed and stamped."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.db.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(connection: Connection) -> None:
    tables = set(inspect(connection).get_table_names())
    config = alembic_config(connection)
    if tables and "alembic_version" not in tables:
        Base.metadata.create_all(connection)  # a database from before migrations: complete it, then stamp
        command.stamp(config, "head")
        return
    command.upgrade(config, "head")
