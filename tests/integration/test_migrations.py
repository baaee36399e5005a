"""The migrations make exactly the schema the models describe, on SQLite and PostgreSQL; a model
change without its migration fails here. A database made by create_all (before migrations) is
completed and stamped."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from bot.db import indexes  # noqa: F401
from bot.db.migrate import migrate
from bot.db.models import Base
from bot.db.session import init_db
from tests.stack import drop_postgres, fresh_postgres_url


def _head() -> str:
    from alembic.script import ScriptDirectory

    from bot.db.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _drift(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_models(tmp_path, backend):
    if backend == "sqlite":
        url, name = f"sqlite:///{tmp_path}/m.db", None
    else:
        url, name = fresh_postgres_url()
    try:
        engine = init_db(url)
        assert _drift(engine) == []
        init_db(url)  # twice: nothing to do
        with engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalar() is not None
    finally:
        if name:
            engine.dispose()
            drop_postgres(name)


def test_a_database_from_create_all_is_completed_and_stamped(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/old.db")
    Base.metadata.tables["series"].create(engine)  # an old, partial schema
    with engine.begin() as conn:
        migrate(conn)
    assert "patch_result" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == _head()
