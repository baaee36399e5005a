"""What a libvirt maintainer reads (pure): replies every relay accepts, reproduce lines that match what
ran, link errors under their target, inherited failures apart, how many tests ran."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.report.render import (
    MailContext,
    ResultView,
    RunView,
    render_admin_alert,
    render_patch_reply,
    render_summary,
)
from bot.report.reproduce import SMTP_LINE_BYTES, fold_long_lines, native_file_options, reader_argv

NATIVE = "/srv/seriesbot/config/libvirt-native.ini"
HOST = (("/srv/seriesbot/data/work/[^/\\s]+/[^/\\s]+/[^/\\s]*build[^/\\s]*", "build"),
        ("/srv/seriesbot/data/work/[^/\\s]+/[^/\\s]+/[^/\\s]+/", ""),
        ("/srv/seriesbot/config/", ""))
CTX = MailContext(public_url="https://ci.example.org", bot_name="seriesbot", bot_address="seriesbot@ci.example.org",
                  command_prefix="seriesbot:", build_commands=("meson setup build .",), host_paths=HOST,
                  native_options={NATIVE: ("-Dgit_werror=disabled", "-Ddocs=disabled", "-Ddriver_qemu=enabled")})
LONG_SETUP = ["meson", "setup", "{build}", "{src}", "--native-file", NATIVE,
              *[f"-Ddriver_{n}=enabled" for n in range(60)], "-Dc_args=" + " ".join(f"-DX{n}=1" for n in range(120))]
COMMANDS = {"setup": LONG_SETUP, "build": ["ninja", "-C", "{build}", "-k", "0"],
            "test": ["meson", "test", "-C", "{build}", "--no-rebuild", "--print-errorlogs", "--num-processes", "3"]}


def result(index: int = 1, **kw) -> ResultView:
    base = dict(index=index, subject=f"[libvirt PATCH {index}/5] api: add public virNetworkCreateXMLFlags() and "
                                     "remote protocol", message_id=f"p{index}@x", references=("c@x",),
                author_email="ada@example.org", commit=f"{index}" * 40, apply="ok", build="ok", test="ok",
                rules="ok", verdict="ok", details={"commands": COMMANDS}, durations={"build": 98.0, "test": 17.2})
    base.update(kw)
    return ResultView(**base)


def run(results, **kw) -> RunView:
    base = dict(run_id=9, series_id=4, project="libvirt", list_address="devel@lists.libvirt.org",
                title="network: add virNetworkCreateXMLFlags", version=1, total=len(results),
                author_email="ada@example.org", cover_msgid="c@x", cover_subject="[libvirt PATCH 0/5] netcreateflags",
                cover_references=(), base_kind="tip", base_ref="master", base_sha="d" * 40, upstream_sha="d" * 40,
                rebase_conflict=None, branch="series/4/run-9", state="done", verdict="ok", error="", duration=600.0,
                trigger="new-series", results=tuple(results))
    base.update(kw)
    return RunView(**base)


def longest(text: str) -> int:
    return max(len(line.encode()) for line in text.split("\n"))


def test_a_setup_argv_over_1000_characters_gives_no_line_a_relay_refuses():
    assert len(" ".join(LONG_SETUP)) > 1000
    for mail in (render_patch_reply(run([result()]), result(), CTX), render_summary(run([result()]), CTX)):
        assert longest(mail.body) <= 80, mail.body
        assert "/srv/" not in mail.body and "{build}" not in mail.body
        assert "\n  meson setup build . -Dgit_werror=disabled -Ddocs=disabled" in mail.body
        assert "--num-processes 3" in mail.body and "ninja -C build -k 0" in mail.body


def test_reproduce_lines_run_in_a_real_shell_as_the_argv_that_ran():
    import subprocess

    from bot.report.reproduce import shell_lines

    argv = ["-Dc_args=" + " ".join(f"-DX{n}=1" for n in range(90)), "-Dname=a$b\"c`d\\e" + "x" * 200, "it's", "end"]
    lines = shell_lines(["printf", "%s\\n", *argv])
    assert max(len(line) for line in lines) <= 76
    out = subprocess.run(["sh", "-c", "\n".join(lines)], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:-1] == argv


def test_reproduce_spells_a_native_file_out_and_keeps_an_unknown_one_by_name():
    argv = ["meson", "setup", "{build}", "{src}", "--native-file", NATIVE, "--native-file=/srv/seriesbot/config/x.ini"]
    assert reader_argv(argv, CTX.native_options, HOST) == [
        "meson", "setup", "build", ".", "-Dgit_werror=disabled", "-Ddocs=disabled", "-Ddriver_qemu=enabled",
        "--native-file", "x.ini"]
    assert native_file_options("[project options]\ngit_werror = 'disabled'\nn = 3\nflag = true\n"
                               "l = ['a', 'b']\n") == ("-Dgit_werror=disabled", "-Dn=3", "-Dflag=true", "-Dl=a,b")
    assert native_file_options("[binaries]\nc = 'gcc'\n") is None


def test_a_project_s_own_reproduce_text_replaces_the_commands():
    from dataclasses import replace

    ctx = replace(CTX, reproduce=("make -j{jobs} check",))
    body = render_patch_reply(run([result()]), result(), ctx).body
    assert "  make -j3 check" in body and "meson setup" not in body


def test_a_link_error_is_shown_under_its_target_with_its_function():
    error = ("build/src/remote/remote_daemon_dispatch_stubs.h:13808: error: undefined reference to "
             "`virNetworkCreateXMLFlags' (in function 'remoteDispatchNetworkCreateXMLFlags')")
    failed = result(build="fail", test="skip", verdict="fail", details={
        "commands": COMMANDS, "build_errors": [error], "build_error_targets": ["build/src/libvirtd"],
        "build_errors_since": [1], "build_error_count": 1, "build_warning_count": 3012,
        "build_failed_targets": ["build/src/libvirtd"]})
    body = render_patch_reply(run([failed], verdict="fail"), failed, CTX).body
    assert "build   FAILED (98.0 s): 1 error, 3012 warnings" in body
    text = " ".join(body.split())
    assert "FAILED: build/src/libvirtd build/src/remote/remote_daemon_dispatch_stubs.h:13808: error: undefined " \
           "reference to `virNetworkCreateXMLFlags' (in function 'remoteDispatchNetworkCreateXMLFlags')" in text
    assert ":0:0:" not in body


def test_inherited_failures_are_counted_apart_and_subjects_are_whole():
    broken = {"build_errors": ["src/test/test_driver.c:5615:12: error: too few arguments"], "build_errors_since": [1],
              "build_error_count": 1, "commands": COMMANDS}
    first = result(1, build="fail", test="skip", verdict="fail", details=broken)
    rest = [result(i, build="blocked", test="skip", verdict="blocked",
                   details={**broken, "build_note": "still broken since patch 1: it fails as that patch left the "
                            "tree, and adds no error of its own"}) for i in range(2, 6)]
    summary = render_summary(run([first, *rest], verdict="fail"), CTX).body
    assert "1 failed, 4 still broken" in " ".join(summary.split())
    # the whole subject, continued under its column (it was cut at 34 characters)
    assert ("  2  ok     still  -      ok     api: add public virNetworkCreateXMLFlags()\n"
            + " " * 33 + "and remote protocol\n") in summary
    reply = render_patch_reply(run([first, *rest], verdict="fail"), rest[0], CTX)
    assert reply.body.startswith("STILL BROKEN: patch 2/5 (build)")
    assert "(since patch 1)" in " ".join(reply.body.split()) and reply.headers["X-Seriesbot-Result"] == "fail"


def test_every_reply_says_how_many_tests_ran_and_what_was_not_built():
    ok = result(details={"commands": COMMANDS, "tests": {"run": 242, "skipped": 3,
                                                         "suites": {"syntax-check": 134, "libvirt": 108}},
                         "not_built": ["src/vbox/vbox_network.c"]}, durations={"setup": 7.0, "build": 98.0, "test": 17.2})
    body = render_patch_reply(run([ok]), ok, CTX).body
    assert "test    ok (17.2 s): 242 tests ran (syntax-check 134, libvirt 108), 3\n        skipped" in body
    assert "build   ok (98.0 s; setup 7.0 s)" in body
    assert "not built here (this configuration does not compile it): src/vbox/vbox_network.c" in " ".join(body.split())


def test_a_folded_subject_becomes_one_line_without_a_leading_space():
    folded = result(subject="[libvirt PATCH 1/5] api: add public\n virNetworkCreateXMLFlags() and remote protocol")
    mail = render_patch_reply(run([folded]), folded, CTX)
    assert mail.subject == "Re: [libvirt PATCH 1/5] api: add public virNetworkCreateXMLFlags() and remote protocol"


def test_an_upstream_that_does_not_build_is_said_to_the_admins_with_meson_s_error():
    error = ("upstream dddddddddddd does not configure or build with this project's configuration, so no patch "
             "was tested.\n  src/util/meson.build:138: error: Program "
             "'/srv/seriesbot/data/work/w1/libvirt/src/src/keycodemapdb/tools/keymap-gen' not found")
    alert = render_admin_alert(run([], state="error", verdict="error", error=error), CTX, ("admin@x",))
    assert alert.subject.startswith("[seriesbot] upstream does not build")
    assert "src/util/meson.build:138: error: Program" in alert.body and "/srv/" not in alert.body


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5000))
def test_no_line_is_ever_longer_than_smtp_allows(text):
    folded = fold_long_lines(text)
    assert longest(folded) <= SMTP_LINE_BYTES
    assert folded.replace(" \\\n", "") == text.replace(" \\\n", "")  # nothing lost, only continued
