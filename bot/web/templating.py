"""The one Jinja2 environment of the dashboard: autoescape on for every template (HTML, Atom, SVG),
and every printed value cleaned of what no page or feed may carry (NUL and other C0 controls, lone
surrogates), and explicit bidi controls (an RTL override in a subject) shown by their code point.
Text from mail is also wrapped in <bdi>, so right-to-left names cannot reorder the text around them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
# explicit bidi embeddings, overrides and isolates: shown by name, so "gnp.exe" cannot pose as "exe.png"
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Markup):
        value = _BAD.sub("\ufffd", value)
        return _BIDI.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", value)
    return value


def age(value: str | None, now: dt.datetime | None = None) -> str:
    if not value:
        return ""
    when = dt.datetime.fromisoformat(value)
    seconds = max(0, int(((now or dt.datetime.now(dt.UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def duration(value: float | None) -> str:
    if value is None:
        return ""
    seconds = int(round(value))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{value:.1f} s"


def short(value: str | None, n: int = 12) -> str:
    return (value or "")[:n]


def make_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True, finalize=clean)
    env.filters.update(age=age, duration=duration, short=short, clean=clean)
    return env


templates = Jinja2Templates(env=make_environment())
