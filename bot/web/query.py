"""The one small query language of the series list, shared by the page (it lives in the URL), the
JSON API and `seriesbot series`:

    project:libvirt state:failed,error author:ada -state:superseded v:2 "exact phrase" words

Terms of one key are OR-ed (repeat the key or separate values by commas), different keys and
free-text words are AND-ed; `-key:value` excludes. `author:` takes a whole address (exact) or a part
of a name or address. Free text matches the title, the author's name
or address, or any patch subject, case-insensitively. A token with an unknown key is free text
(subjects such as "qemu: fix" stay searchable). Parsing is pure: text -> SeriesQuery; the SQL is
built from the record by `to_filters`, never from the text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select

from bot.db.models import Patch, Series

STATES = ("incomplete", "complete", "partial", "queued", "running", "passed", "warned", "failed", "error",
          "superseded", "merged", "cancelled")
KEYS = {"project": "project", "p": "project", "state": "state", "s": "state", "author": "author",
        "a": "author", "version": "version", "v": "version"}
MAX_TERMS = 20
ADDRESS = re.compile(r"^[^@\s,\"<>]+@[^@\s,\"<>]+\.[^@\s,\"<>]+$")
_TOKEN = re.compile(r'(-?)([A-Za-z]+):("(?:[^"]*)"?|\S*)|"([^"]*)"?|(\S+)')


@dataclass(frozen=True)
class SeriesQuery:
    projects: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    not_projects: tuple[str, ...] = ()
    not_states: tuple[str, ...] = ()
    not_authors: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        return self == SeriesQuery()


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value.strip('"')


def parse(text: str | None) -> SeriesQuery:
    """Text -> query record. Never raises: what it cannot use is named in `errors`."""
    values: dict[str, list[str]] = {k: [] for k in ("project", "state", "author", "version", "-project",
                                                    "-state", "-author", "-version")}
    words: list[str] = []
    errors: list[str] = []
    for count, m in enumerate(_TOKEN.finditer(text or "")):
        if count >= MAX_TERMS:
            errors.append(f"only the first {MAX_TERMS} terms are used")
            break
        neg, key, raw, phrase, word = m.groups()
        if key is not None and key.lower() in KEYS and raw:
            name = KEYS[key.lower()]
            for value in (_unquote(raw).split(",") if not raw.startswith('"') else [_unquote(raw)]):
                if value.strip():
                    values[f"{neg}{name}"].append(value.strip())
        elif phrase is not None:
            if phrase.strip():
                words.append(phrase.strip())
        else:
            token = m.group(0)
            if token.strip('"'):
                words.append(token.strip('"'))
    states = []
    for sign in ("", "-"):
        good = []
        for state in values[f"{sign}state"]:
            if state.lower() in STATES:
                good.append(state.lower())
            else:
                errors.append(f"unknown state {state!r} (known: {', '.join(STATES)})")
        states.append(tuple(dict.fromkeys(good)))
    versions = []
    for v in values["version"]:
        digits = v.lower().removeprefix("v")
        if digits.isdigit() and int(digits) < 1000:
            versions.append(int(digits))
        else:
            errors.append(f"version must be a number, not {v!r}")
    if values["-version"]:
        errors.append("-version: is not supported")
    uniq = lambda xs: tuple(dict.fromkeys(xs))  # noqa: E731
    return SeriesQuery(
        projects=uniq(p.lower() for p in values["project"]), states=states[0], authors=uniq(values["author"]),
        versions=uniq(versions), not_projects=uniq(p.lower() for p in values["-project"]), not_states=states[1],
        not_authors=uniq(values["-author"]), words=uniq(words), errors=tuple(errors))


def list_query(q: str | None, project: str | None = None, state: str | None = None,
               author: str | None = None) -> str:
    """The query text of a request; separate ?project=&state=&author= parameters fold into it."""
    extra = [f"{key}:{_quote(value)}" for key, value in (("project", project), ("state", state), ("author", author))
             if value]
    return " ".join(filter(None, [q or "", *extra]))


def _quote(value: str) -> str:
    return f'"{value}"' if (not value or any(c.isspace() or c in ',"' for c in value)) else value


def format_query(q: SeriesQuery) -> str:
    """The canonical text of a query: parse(format_query(q)) == q."""
    parts: list[str] = []
    for sign, key, items in (("", "project", q.projects), ("", "state", q.states),
                             ("", "v", tuple(str(v) for v in q.versions)), ("-", "project", q.not_projects),
                             ("-", "state", q.not_states)):
        if items:
            parts.append(f"{sign}{key}:{','.join(items)}")
    for sign, items in (("", q.authors), ("-", q.not_authors)):
        parts += [f"{sign}author:{_quote(item.replace(chr(34), ''))}" for item in items]
    for word in (w.replace('"', "") for w in q.words):
        parts.append(f'"{word}"' if word.startswith("-") or ":" in word else _quote(word))
    return " ".join(parts)


def with_term(q: SeriesQuery, key: str, value: str) -> SeriesQuery:
    """The query with `key` set to exactly `value` (for "filter by this author" links)."""
    if key == "project":
        return replace(q, projects=(value,), errors=())
    if key == "state":
        return replace(q, states=(value,), errors=())
    return replace(q, authors=(value,), errors=())


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _author(value: str) -> ColumnElement[bool]:
    """A whole address matches that address (an index lookup); anything else is a substring of the
    author's name or address."""
    if ADDRESS.match(value):
        return Series.author_email.in_(tuple(dict.fromkeys((value, value.lower()))))
    pattern = _like(value)
    return or_(Series.author_name.ilike(pattern, escape="\\"), Series.author_email.ilike(pattern, escape="\\"))


def _word(value: str) -> ColumnElement[bool]:
    pattern = _like(value)
    in_subjects = exists(select(Patch.id).where(Patch.series_id == Series.id,
                                                Patch.subject.ilike(pattern, escape="\\")))
    return or_(Series.title.ilike(pattern, escape="\\"), _author(value), in_subjects)


def to_filters(q: SeriesQuery) -> list[ColumnElement[bool]]:
    """WHERE clauses over Series for the query (bound parameters only)."""
    where: list[ColumnElement[bool]] = []
    if q.projects:
        where.append(Series.project.in_(q.projects))
    if q.not_projects:
        where.append(Series.project.not_in(q.not_projects))
    if q.states:
        where.append(Series.state.in_(q.states))
    if q.not_states:
        where.append(Series.state.not_in(q.not_states))
    if q.versions:
        where.append(Series.version.in_(q.versions))
    if q.authors:
        where.append(or_(*[_author(a) for a in q.authors]))
    if q.not_authors:
        where.append(not_(or_(*[_author(a) for a in q.not_authors])))
    if q.words:
        where.append(and_(*[_word(w) for w in q.words]))
    return where
