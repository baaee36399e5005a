"""Feed mails through the one way in (store_message) and ingest them inline, without a broker."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import Message, Run, Series
from bot.db.session import session_scope
from bot.ingest.ingest import ingest_message
from bot.receive.store import store_message
from bot.settings import Settings


def deliver(settings: Settings, raw: bytes, to: str = "devel@demo.seriesbot.test") -> tuple[int, str]:
    outcome = store_message(raw, settings, source="test", envelope_to=[to], enqueue=False)
    return outcome.message_pk, ingest_message(outcome.message_pk, settings)


def all_series(settings: Settings) -> list[dict]:
    with session_scope(settings.database_url) as s:
        out = []
        for series in s.scalars(select(Series).order_by(Series.id)):
            out.append({
                "id": series.id, "title": series.title, "version": series.version, "total": series.total,
                "state": series.state, "project": series.project, "cover": series.cover_msgid,
                "indexes": [p.index for p in series.patches], "missing": list(series.missing),
                "superseded_by": series.superseded_by_id, "supersedes": series.supersedes_id,
                "base_commit": series.base_commit, "based_on": list(series.based_on),
                "trailers": {p.index: [(t[0], t[1]) for t in p.trailers] for p in series.patches},
                "runs": [(r.trigger, r.state) for r in series.runs],
            })
        return out


def message_row(settings: Settings, pk: int) -> dict:
    with session_scope(settings.database_url) as s:
        m = s.get(Message, pk)
        return {"status": m.status, "reason": m.reason, "kind": m.kind, "raw": m.raw, "series_id": m.series_id}


def runs(settings: Settings) -> list[tuple[int, str]]:
    with session_scope(settings.database_url) as s:
        return [(r.series_id, r.state) for r in s.scalars(select(Run).order_by(Run.id))]
