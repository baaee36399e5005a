"""Write a new migration from the models' difference to the newest revision:

    .venv/bin/python -m bot.db.revision "add a column for X"

(tests/integration/test_migrations.py fails while models and migrations disagree)."""

from __future__ import annotations

import sys
import tempfile

from alembic import command
from sqlalchemy import create_engine

from bot.db.migrate import MIGRATIONS, alembic_config


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    existing = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    number = f"{int(existing[-1][:4]) + 1:04d}" if existing else "0001"
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/schema.db")
        with engine.begin() as conn:
            config = alembic_config(conn)
            command.upgrade(config, "head")
            command.revision(config, message=sys.argv[1], autogenerate=True, rev_id=number)


if __name__ == "__main__":
    main()
