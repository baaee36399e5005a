"""rules: run only the API-conformance rules again (no build, no tests)."""

from __future__ import annotations

from bot.commands.retest import Retest


class RulesOnly(Retest):
    name = "rules"
    usage = "rules"
    help = "check the API rules again without building or testing"
    rules_only = True


COMMAND = RulesOnly()
