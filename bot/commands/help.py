"""help: the commands the bot understands."""

from __future__ import annotations

from bot.commands import CommandContext, CommandOutcome, help_text


class Help:
    name = "help"
    usage = "help"
    help = "this list"
    needs_series = False
    needs_permission = False

    def run(self, ctx: CommandContext) -> CommandOutcome:
        return CommandOutcome("help sent", reply=help_text(ctx.settings.command_prefix))


COMMAND = Help()
