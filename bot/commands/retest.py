"""retest [base=<commit-ish or branch>]: a fresh run (nothing reused), optionally on another base."""

from __future__ import annotations

from bot.commands import CommandContext, CommandOutcome
from bot.schedule import create_run

SAFE_REF = __import__("re").compile(r"^(?!-)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/+~^-]{1,200}$")


def parse_base(args: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(base, error)."""
    base = None
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key.lower() != "base":
            return None, f"unknown argument {arg[:60]!r} (expected base=<commit-ish or branch>)"
        if not SAFE_REF.match(value):
            return None, f"{value[:60]!r} is not a commit-ish or branch name"
        base = value
    return base, None


class Retest:
    name = "retest"
    usage = "retest [base=<commit-ish or branch>]"
    help = "test the series again from scratch, on the branch tip or on the given base"
    needs_series = True
    needs_permission = True
    rules_only = False

    def run(self, ctx: CommandContext) -> CommandOutcome:
        base, error = parse_base(ctx.request.args)
        if error:
            return CommandOutcome(f"refused: {error}", reply=f"{self.name}: {error}", ok=False)
        assert ctx.series is not None
        options: dict[str, object] = {"force": True}
        if base:
            options["base"] = base
        if self.rules_only:
            options["rules_only"] = True
        run = create_run(ctx.session, ctx.settings, ctx.series, trigger=self.name, requested_by=ctx.request.sender,
                         options=options, replace_active=True)
        assert run is not None
        where = f" on {base}" if base else ""
        return CommandOutcome(f"run {run.id} queued{where}", run_id=run.id)


COMMAND = Retest()
