"""Reply rendering (pure): threading headers, verdict line, findings with the guide sentence."""

from bot.report.render import (
    FindingView,
    MailContext,
    ResultView,
    RunView,
    render_patch_reply,
    render_summary,
)

CTX = MailContext(public_url="http://dash", bot_name="seriesbot", bot_address="seriesbot@bot.test",
                  command_prefix="seriesbot:", build_commands=("ninja -C build",))


def result(index=2, **kw):
    base = dict(index=index, subject=f"[PATCH {index}/3] domain: add thing", message_id=f"p{index}@x",
                references=("cover@x",), author_email="ada@example.org", commit="c" * 40, apply="ok", build="ok",
                test="ok", rules="ok", verdict="ok", details={}, durations={"build": 1.25, "test": 0.5})
    base.update(kw)
    return ResultView(**base)


def run(results=()):
    return RunView(run_id=7, series_id=3, project="demo", list_address="devel@demo.test", title="add thing",
                   version=2, total=3, author_email="ada@example.org", cover_msgid="cover@x",
                   cover_subject="[PATCH v2 0/3] add thing", cover_references=(), base_kind="tip", base_ref="main",
                   base_sha="a" * 40, upstream_sha="a" * 40, rebase_conflict=None, branch="series/3/run-7",
                   state="done", verdict="fail", error="", duration=12.0, trigger="new-series", results=tuple(results))


def test_passing_patch_reply():
    mail = render_patch_reply(run(), result(), CTX)
    assert mail.subject == "Re: [PATCH 2/3] domain: add thing"
    assert mail.in_reply_to == "p2@x" and mail.references == ("cover@x", "p2@x")
    assert mail.key == "run-7/patch-2/reply"
    assert mail.message_id == "seriesbot.run-7.patch-2.reply@bot.test"
    assert mail.to == ("devel@demo.test",) and mail.cc == ("ada@example.org",)
    assert mail.body.startswith("PASS: patch 2/3\n")
    assert "Tested on: current tip of main at aaaaaaaaaaaa" in mail.body
    assert "build   ok (1.2 s)" in mail.body
    assert mail.headers["X-Seriesbot-Result"] == "pass" and mail.headers["Auto-Submitted"] == "auto-generated"
    assert "http://dash/series/3#patch-2" in mail.body


def test_rule_finding_names_file_line_rule_and_guide():
    f = FindingView("libvirt.entry-resets-error", "error", "src/libvirt-domain.c", 408,
                    "public API virDomainInjectNMI does not call virResetLastError()", "MUST call virResetLastError();")
    mail = render_patch_reply(run(), result(rules="fail", verdict="fail", findings=(f,)), CTX)
    assert mail.body.startswith("FAIL: patch 2/3 (rules)")
    assert "src/libvirt-domain.c:408: error:" in mail.body
    assert "[libvirt.entry-resets-error]" in mail.body
    assert 'guide: "MUST call virResetLastError();"' in mail.body
    assert mail.headers["X-Seriesbot-Result"] == "fail"


def test_summary_replies_to_cover_with_table():
    results = [result(1), result(2, test="fail", verdict="fail",
                                 details={"failed_tests": [{"name": "t1", "since": 2}]}), result(3)]
    mail = render_summary(run(results), CTX)
    assert mail.in_reply_to == "cover@x" and mail.subject == "Re: [PATCH v2 0/3] add thing"
    assert "  2  ok     ok     FAIL   ok     domain: add thing" in mail.body
    assert "git fetch http://dash/git/demo.git series/3/run-7" in mail.body
    assert "Totals: 2 passed" in mail.body
    assert len(mail.body) < 10 * 1024
