"""Engine and sessions. SQLite (embedded default) is opened in WAL mode with a busy timeout so
the SMTP front, the web process and workers can share one file; PostgreSQL by DATABASE_URL."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import indexes  # noqa: F401  (extra indexes register on the metadata)
from bot.db.models import ProjectLock

_engines: dict[str, Engine] = {}
_makers: dict[str, sessionmaker[Session]] = {}


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def get_engine(url: str) -> Engine:
    engine = _engines.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        _engines[url] = engine
    return engine


def init_db(url: str) -> Engine:
    """Bring the schema to the newest revision (bot.db.migrate). Several processes start at once,
    so this is serialised: an advisory lock on PostgreSQL, a lock file beside the SQLite database."""
    from bot.db.migrate import migrate

    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(726172)"))
            migrate(conn)
        return engine
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        with engine.begin() as conn:
            migrate(conn)
        return engine
    with open(f"{path}.init-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with engine.begin() as conn:
            migrate(conn)
    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    maker = _makers.get(url)
    if maker is None:
        maker = sessionmaker(bind=get_engine(url), expire_on_commit=False)
        _makers[url] = maker
    return maker


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error."""
    if url is None:
        from bot.settings import get_settings

        url = get_settings().database_url
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """After fork (Celery prefork children) connections must not be shared."""
    for engine in _engines.values():
        engine.dispose()


def lock_project(session: Session, name: str) -> None:
    """Take the project's assembly lock until the end of the transaction."""
    bump = update(ProjectLock.__table__).where(ProjectLock.__table__.c.name == name) \
        .values(counter=ProjectLock.__table__.c.counter + 1)
    connection = session.connection()  # Core: no ORM flush or identity-map work on this hot path
    if connection.execute(bump).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(ProjectLock(name=name, counter=0))
    except IntegrityError:
        pass
    connection.execute(bump)
