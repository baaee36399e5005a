"""Who gets mailed what (pure)."""

from bot.report.policy import should_reply_to_patch, should_send_summary
from bot.settings import ReportSettings
from tests.unit.test_render import result, run


def test_every_patch_by_default_problems_only_when_asked_none_when_off():
    ok, bad = result(verdict="ok"), result(rules="fail", verdict="fail")
    assert should_reply_to_patch(ReportSettings(), ok, None)
    problems = ReportSettings(per_patch="problems")
    assert not should_reply_to_patch(problems, ok, None) and should_reply_to_patch(problems, bad, None)
    assert not should_reply_to_patch(ReportSettings(per_patch="none"), bad, None)


def test_a_rerun_mails_only_changed_verdicts():
    before = result(test="fail", verdict="fail")
    assert not should_reply_to_patch(ReportSettings(), result(test="fail", verdict="fail"), before)
    assert should_reply_to_patch(ReportSettings(), result(verdict="ok"), before)


def test_summary_only_when_finished_and_wanted():
    assert should_send_summary(ReportSettings(), run())
    assert not should_send_summary(ReportSettings(summary=False), run())
