"""Structured logs: one event per line, key=value, with the message, series, run and patch the line
concerns bound from context (contextvars), so every line of a run says which run and patch."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_EMPTY: dict[str, object] = {}  # never mutated: every change makes a new dict
_context: ContextVar[dict[str, object]] = ContextVar("seriesbot_log_context", default=_EMPTY)  # noqa: B039
FORMAT = "%(asctime)s %(levelname)s %(name)s %(ctx)s%(message)s"


@contextmanager
def bound(**values: object) -> Iterator[None]:
    """Add key=value pairs to every log line written inside the block (in this thread)."""
    token = _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**values: object) -> None:
    """Add key=value pairs for the rest of the current context (e.g. the patch being tested)."""
    _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get()
        record.ctx = "".join(f"{k}={v} " for k, v in ctx.items())
        return True


def setup(level: str = "INFO", verbose: bool = False) -> None:
    # Alembic says what it does at INFO on every start; bot.db.migrate lets it speak when a revision
    # is applied, --verbose always
    logging.getLogger("alembic").setLevel(logging.NOTSET if verbose else logging.WARNING)
    root = logging.getLogger()
    if any(isinstance(f, ContextFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(ContextFilter())
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
