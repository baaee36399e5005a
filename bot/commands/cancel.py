"""cancel: stop the series' queued or running run (at the next patch boundary)."""

from __future__ import annotations

from bot.commands import CommandContext, CommandOutcome
from bot.schedule import active_run, cancel_run


class Cancel:
    name = "cancel"
    usage = "cancel"
    help = "stop the current run of the series"
    needs_series = True
    needs_permission = True

    def run(self, ctx: CommandContext) -> CommandOutcome:
        assert ctx.series is not None
        run = active_run(ctx.session, ctx.series.id)
        if run is None:
            return CommandOutcome("nothing to cancel", reply="cancel: no run of this series is queued or running")
        cancel_run(ctx.session, run, reason=f"cancelled by {ctx.request.sender}")
        return CommandOutcome(f"run {run.id} cancelled", run_id=run.id)


COMMAND = Cancel()
