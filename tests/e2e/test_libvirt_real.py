"""Opt-in: the shipped libvirt project on real libvirt, as a contributor meets it. The accepted
netcreateflags series (5 patches on libvirt 7.8.0-dev) is sent with `git send-email` to a running
seriesbot (SMTP, web, a real Celery build worker) and the replies are read on the list's relay.

Skipped unless SERIESBOT_LIBVIRT_GIT and SERIESBOT_KEYCODEMAPDB_GIT name the git dirs (see
README, "libvirt"); a full libvirt build takes minutes, so each case can take an hour on 2 cores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e import libvirt_real as lv
from tests.stack import git_send_email, make_stack

pytestmark = [pytest.mark.libvirt, pytest.mark.timeout(4 * 3600),
              pytest.mark.skipif(lv.sources() is None, reason=f"set {lv.ENV_LIBVIRT} and {lv.ENV_KEYCODEMAPDB}")]
LIST = "devel@libvirt.seriesbot.test"


def run_series(request, tmp_path: Path, variant=None) -> dict[int, str]:
    """Send the (changed) series, wait for 5 patch replies and the summary; {index: body}, 0 = summary."""
    libvirt, keycodemapdb = lv.sources()  # type: ignore[misc]
    upstream = lv.make_upstream(libvirt, tmp_path / "upstream.git")
    files = lv.series_files(libvirt, tmp_path / "series", LIST)
    if variant:
        variant(files)
    stack = make_stack(tmp_path, echo=False)
    (tmp_path / "config" / "projects" / "libvirt.toml").write_text(lv.project_file("libvirt", upstream, keycodemapdb,
                                                                                   LIST, tmp_path / "config"))
    with stack.running(request):
        git_send_email(files, stack.smtp_port, to=LIST)
        replies = stack.wait_replies(6, timeout=4 * 3600 - 600)
    out: dict[int, str] = {}
    for mail in replies:
        body = mail.get_payload(decode=True).decode()
        m = re.search(r"patch (\d+)/5", body.split("\n", 1)[0])
        out[int(m.group(1)) if m else 0] = body
        assert max(len(line.encode()) for line in body.split("\n")) <= 998
    return out


def test_the_accepted_series_passes_every_patch_with_syntax_check(request, tmp_path):
    bodies = run_series(request, tmp_path)
    for index in range(1, 6):
        assert bodies[index].startswith(f"PASS: patch {index}/5"), bodies[index]
        tests = " ".join(bodies[index].split())
        assert re.search(r"test ok \([\d.]+ s\): \d+ tests ran \(libvirt \d+, syntax-check 134\)", tests), tests
    assert "5 passed" in bodies[0]
    assert "meson setup build . -Dgit_werror=disabled" in bodies[1]


def test_a_patch_2_that_does_not_compile_fails_and_the_rest_are_still_broken(request, tmp_path):
    bodies = run_series(request, tmp_path, lv.break_patch_2)
    assert bodies[1].startswith("PASS: patch 1/5")
    assert bodies[2].startswith("FAIL: patch 2/5 (build)")
    text = " ".join(bodies[2].split())
    assert re.search(r"src/test/test_driver\.c:\d+:\d+: error: too few arguments to function", text), text
    for index in (3, 4, 5):
        assert bodies[index].startswith(f"STILL BROKEN: patch {index}/5"), bodies[index]
    assert "1 failed, 3 still broken" in " ".join(bodies[0].split())


def test_a_changed_remote_protocol_structs_line_fails_patch_1(request, tmp_path):
    bodies = run_series(request, tmp_path, lv.edit_structs_line)
    assert bodies[1].startswith("FAIL: patch 1/5")
    text = " ".join(bodies[1].split())
    assert "check-remote_protocol" in text and "[libvirt.protocol-structs-append-only]" in text
