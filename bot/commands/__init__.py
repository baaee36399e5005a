"""Commands by email: `seriesbot: <verb> [args]` in a reply. One verb per module (Mailman's eml_*
shape): a module defines COMMAND with a name, usage, help and run(ctx). They are discovered, and the
help text is generated from them."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.db.models import Series
    from bot.settings import ProjectSettings, Settings


@dataclass(frozen=True)
class CommandRequest:
    sender: str
    verb: str
    args: tuple[str, ...]
    message_pk: int
    message_id: str
    subject: str
    references: tuple[str, ...]


@dataclass
class CommandContext:
    session: Session
    settings: Settings
    project: ProjectSettings
    series: Series | None
    request: CommandRequest


@dataclass
class CommandOutcome:
    decision: str  # what the bot did, for the record and the dashboard
    reply: str | None = None  # text mailed back to the sender, when there is something to say
    run_id: int | None = None
    ok: bool = True
    extra: dict[str, str] = field(default_factory=dict)


class Command(Protocol):
    name: str
    usage: str
    help: str
    needs_series: bool
    needs_permission: bool

    def run(self, ctx: CommandContext) -> CommandOutcome: ...


_SKIP = {"authorize", "dispatch", "subscription"}


def discover() -> dict[str, Command]:
    found: dict[str, Command] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _SKIP:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "COMMAND", None)
        if command is not None:
            found[command.name] = command
    return dict(sorted(found.items()))


def help_text(prefix: str) -> str:
    lines = ["Commands: reply to a patch or cover letter with a line", "", f"    {prefix} <command>", ""]
    for command in discover().values():
        lines.append(f"  {prefix} {command.usage}")
        lines.append(f"      {command.help}")
    lines += ["", "Only the series author and the project's maintainers may run commands that",
              "start or stop runs. Quoted lines (\"> ...\") are ignored."]
    return "\n".join(lines)
