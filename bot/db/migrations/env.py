"""Alembic environment: always run in-process by bot.db.session.init_db (or the migrations test)
with a connection handed over in config.attributes; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from bot.db import indexes  # noqa: F401  (the read-side indexes are part of the schema)
from bot.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
