"""Golden files of the rendered mails: the exact text a list reader gets. Regenerate after an
intended change with UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.records import OutgoingMail
from bot.report.render import (
    FindingView,
    IncompleteView,
    MailContext,
    ResultView,
    RunView,
    render_incomplete,
    render_patch_reply,
    render_summary,
)

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "replies"
CTX = MailContext(public_url="https://ci.example.org", bot_name="seriesbot", bot_address="seriesbot@ci.example.org",
                  command_prefix="seriesbot:", build_commands=("meson setup build .", "ninja -C build",
                                                                "meson test -C build --no-rebuild --print-errorlogs"))
SHA = "3763256d1760f1c6c1bbe604a421c4d7dd31c945"


def result(index: int, **kw) -> ResultView:
    base = dict(index=index, subject=f"[PATCH v2 {index}/3] domain: step {index}", message_id=f"p{index}@example.org",
                references=("cover@example.org",), author_email="ada@example.org", commit=f"{index}" * 40,
                apply="ok", build="ok", test="ok", rules="ok", verdict="ok", details={},
                durations={"build": 3.2, "test": 21.5})
    base.update(kw)
    return ResultView(**base)


def run(results, **kw) -> RunView:
    base = dict(run_id=42, series_id=7, project="libvirt", list_address="devel@lists.libvirt.org",
                title="domain: add virDomainReset API", version=2, total=3, author_email="ada@example.org",
                cover_msgid="cover@example.org", cover_subject="[PATCH v2 0/3] domain: add virDomainReset API",
                cover_references=(), base_kind="tip", base_ref="master", base_sha=SHA, upstream_sha=SHA,
                rebase_conflict=None, branch="series/7/run-42", state="done", verdict="ok", error="", duration=95.0,
                trigger="new-series", results=tuple(results))
    base.update(kw)
    return RunView(**base)


FINDING = FindingView("libvirt.entry-resets-error", "error", "src/libvirt-domain.c", 408,
                      "public API virDomainInjectNMI does not call virResetLastError()",
                      "MUST call virResetLastError();")


def cases() -> dict[str, OutgoingMail]:
    passing = [result(1), result(2), result(3)]
    conflict = result(2, apply="fail", build="skip", test="skip", rules="skip", verdict="fail",
                      details={"apply_note": "does not apply on master",
                               "conflict_files": ["src/libvirt_public.syms", "src/driver-hypervisor.h"]})
    not_tested = result(3, apply="skip", build="skip", test="skip", rules="skip", verdict="skip",
                        details={"apply_note": "not tested: an earlier patch did not apply"})
    build_error = result(2, build="fail", test="skip", verdict="fail", details={
        "build_errors": ["src/test/test_driver.c:244:27: error: 'VIR_DOMAIN_PAUSE' undeclared (first use in this "
                         "function); did you mean 'VIR_DOMAIN_PAUSED'?"],
        "test_note": "not run: the build failed"})
    test_failure = result(3, test="fail", verdict="fail", details={
        "failed_tests": [{"name": "domain-state", "status": "FAIL", "since": 3,
                          "log_tail": "FAIL: state of a resumed domain\n  expected 1 (running), got 5 (shutoff)"}],
        "upstream_failures": ["virnetsockettest"], "flaky_tests": ["eventtest"]})
    findings = result(2, rules="fail", verdict="fail", findings=(FINDING,))
    timeout = result(1, build="fail", test="skip", verdict="fail", durations={"build": 3600.0},
                     details={"build_note": "build killed: timed out after 3600 s", "test_note": "not run"})
    warning = result(1, build="warn", verdict="warn", details={"new_warnings": [
        "src/libvirt-domain.c:412:9: warning: unused variable 'flags' [-Wunused-variable]"]})
    return {
        "all-passing-patch": render_patch_reply(run(passing), passing[1], CTX),
        "all-passing-summary": render_summary(run(passing), CTX),
        "apply-conflict-patch": render_patch_reply(run([result(1), conflict, not_tested], verdict="fail", branch=None),
                                                   conflict, CTX),
        "apply-conflict-summary": render_summary(run([result(1), conflict, not_tested], verdict="fail", branch=None),
                                                 CTX),
        "rebase-needed-patch": render_patch_reply(run(passing, base_kind="base-commit", base_ref=SHA[:12], rebase_conflict={
            "index": 1, "files": ["src/libvirt_public.syms"], "upstream": "a" * 40}), passing[0], CTX),
        "build-error-patch": render_patch_reply(run([result(1), build_error], verdict="fail"), build_error, CTX),
        "test-failure-patch": render_patch_reply(run([test_failure], verdict="fail"), test_failure, CTX),
        "rule-findings-patch": render_patch_reply(run([findings], verdict="fail"), findings, CTX),
        "timeout-patch": render_patch_reply(run([timeout], verdict="fail"), timeout, CTX),
        "new-warning-patch": render_patch_reply(run([warning], verdict="warn"), warning, CTX),
        "incomplete-series": render_incomplete(IncompleteView(
            series_id=7, project="libvirt", list_address="devel@lists.libvirt.org", title="domain: add reset",
            version=2, total=4, arrived=(1, 2, 4), missing=(3,), author_email="ada@example.org",
            reply_to="cover@example.org", reply_subject="[PATCH v2 0/4] domain: add reset", references=(),
            waited_hours=6), CTX),
    }


def as_text(mail: OutgoingMail) -> str:
    head = [f"To: {', '.join(mail.to)}", f"Cc: {', '.join(mail.cc)}", f"Subject: {mail.subject}",
            f"Message-ID: <{mail.message_id}>", f"In-Reply-To: <{mail.in_reply_to}>",
            f"References: {' '.join(f'<{r}>' for r in mail.references)}",
            *[f"{k}: {v}" for k, v in sorted(mail.headers.items())]]
    return "\n".join(head) + "\n\n" + mail.body


@pytest.mark.parametrize("name", sorted(cases()))
def test_rendered_mail_matches_golden(name):
    text = as_text(cases()[name])
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name}: rendering changed (UPDATE_GOLDEN=1 to accept)"
    assert len(text.encode()) < 10 * 1024
    assert all(len(line) <= 80 for line in cases()[name].body.splitlines() if not line.startswith("  git fetch"))


def test_oversize_body_is_cut_with_a_dashboard_pointer():
    many = tuple(FindingView("libvirt.x", "error", f"src/f{i}.c", i, "m" * 60, "g" * 60) for i in range(400))
    small = MailContext(**{**CTX.__dict__, "max_bytes": 1200})
    mail = render_patch_reply(run([result(1, rules="fail", verdict="fail", findings=many)]),
                              result(1, rules="fail", verdict="fail", findings=many), small)
    assert len(mail.body.encode()) <= 1200 and "cut to 1200 bytes" in mail.body
    assert "https://ci.example.org/series/7#patch-1" in mail.body
