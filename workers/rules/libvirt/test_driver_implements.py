from __future__ import annotations

from collections.abc import Iterator

from bot.records import Finding, Scope, Severity
from workers.rules import rule
from workers.rules.context import RuleContext
from workers.rules.cparse import designated_initializers
from workers.rules.libvirt_api import TEST_DRIVER, driver_members

# the driver structs the test driver provides tables for
_TESTED_HEADERS = ("src/driver-hypervisor.h", "src/driver-network.h", "src/driver-storage.h",
                   "src/driver-interface.h", "src/driver-nodedev.h")


@rule
class TestDriverImplements:
    """By the end of the series, the test driver implements a new driver callback.

    Guide, "fully implement new API": "It is always a good idea to patch the test driver in addition to
    the target driver, to prove that the API can be used for more than one driver." A warning, as the
    guide's "good idea" is not a must.
    """

    __test__ = False  # not a pytest class
    id = "libvirt.test-driver-implements"
    severity = Severity.WARNING
    scope = Scope.SERIES_END
    guide = ("It is always a good idea to patch the test driver in addition to the target driver, to prove "
             "that the API can be used for more than one driver.")

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        now = driver_members(ctx)
        base = driver_members(ctx, base=True)
        added = {m: v for m, v in now.items() if m not in base and v[0] in _TESTED_HEADERS}
        if not added:
            return
        table = ctx.parsed("initializers", TEST_DRIVER, designated_initializers)
        if table is None:
            return  # no test driver in this tree
        for member, (path, _, line) in added.items():
            if member not in table:
                index = ctx.introduced_by(path, member)
                yield ctx.finding(self, path, line, f"the driver callback {member} (added in patch {index}) "
                                                    f"is not implemented by the test driver ({TEST_DRIVER})",
                                  patch_index=index)
