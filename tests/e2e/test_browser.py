"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
during a live run on a real stack the list and the series page change cells from queued to running
to a verdict without a reload; a log link leads to the log; a maintainer signs in and presses
retest and sees the new run. A second test renders the hostile mail corpus: nothing runs, nothing
overflows the page. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from bot.demo.upstream import series_files
from tests.helpers import free_port, wait_for, wait_port
from tests.ingest_driver import deliver
from tests.stack import ROOT, Stack, git_send_email, make_stack

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "test-artifacts" / "screenshots"
MAINTAINER, TOKEN = "maintainer@demo.seriesbot.test", "browser-token-1234"
# every build step waits 2 s, so the run lasts long enough to be watched
SLOW_BUILD = ["sh", "-c", 'sleep 2; exec ninja -C "$0"', "{build}"]
VERDICTS = ("ok", "warn", "fail", "error", "skip")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:  # noqa: ANN001
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def slow_stack(tmp_path: Path, request) -> Iterator[Stack]:
    stack = make_stack(tmp_path, build_command=SLOW_BUILD)
    stack.env["SERIESBOT_WEB_LOGINS"] = f"{MAINTAINER}={TOKEN}"
    with stack.running(request):
        yield stack


def _cells(page, selector: str) -> list[str]:  # noqa: ANN001
    return page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.state || e.className)")


def test_live_progress_logs_and_retest_in_a_browser(browser, slow_stack: Stack, tmp_path: Path):
    files = [f for f in series_files()]
    git_send_email(files, slow_stack.smtp_port, cwd=tmp_path)
    series = wait_for(lambda: slow_stack.api("/api/series")["series"], 60, what="the series")
    sid = series[0]["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # the list: cells move on while the page stays loaded
    page.goto(f"{slow_stack.web}/")
    page.evaluate("window.__loadedOnce = 42")
    row = f'tr[data-series="{sid}"] .cells span.cell'
    first = _cells(page, row)
    assert not any(f"v-{v}" in c for c in first for v in VERDICTS), first  # nothing finished yet
    page.wait_for_function(f"""() => [...document.querySelectorAll('{row}')]
        .some(e => e.classList.contains('v-running'))""", timeout=90_000)
    shot(page, "list-running")
    page.wait_for_function(f"""() => [...document.querySelectorAll('{row}')]
        .some(e => ['v-ok', 'v-fail', 'v-warn'].some(c => e.classList.contains(c)))""", timeout=90_000)
    assert page.evaluate("window.__loadedOnce") == 42  # no reload happened
    shot(page, "list-progress")

    # the series page: a cell that is queued or running turns into a verdict in place
    page.goto(f"{slow_stack.web}/series/{sid}")
    page.evaluate("window.__loadedOnce = 43")
    build = 'table.matrix td[data-step="build"]'
    states = _cells(page, build)
    waiting = [i for i, s in enumerate(states, start=1) if s in ("queued", "running")]
    assert waiting, states  # the run is still going
    last = waiting[-1]
    shot(page, "series-running")
    page.wait_for_function(f"""() => {{
        const td = document.querySelector('#patch-{last} td[data-step="build"]');
        return td && {list(VERDICTS)!r}.includes(td.dataset.state); }}""", timeout=120_000)
    assert page.evaluate("window.__loadedOnce") == 43
    wait_for(lambda: slow_stack.api(f"/api/series/{sid}")["runs"][0]["state"] == "done", 60, what="the run's end")
    page.wait_for_function("() => document.querySelector('#run [data-run-state]').dataset.runState === 'done'",
                           timeout=30_000)
    assert page.evaluate("window.__loadedOnce") == 43
    # the header's badge was fetched again for the new state, not left showing "running"
    page.wait_for_function("() => document.querySelector('img.badge').src.includes('?v=')", timeout=30_000)
    shot(page, "series-done")

    # a log link leads to the log
    page.click('#patch-1 td[data-step="build"] a')
    page.wait_for_selector("pre.log")
    assert "/logs/" in page.url and "ninja" in page.inner_text("pre.log")
    shot(page, "log")

    # sign in and retest
    page.goto(f"{slow_stack.web}/login?next=/series/{sid}")
    page.fill('input[name="address"]', MAINTAINER)
    page.fill('input[name="token"]', TOKEN)
    page.click('form.login button[type="submit"]')
    page.wait_for_selector("#retest")
    assert MAINTAINER in page.inner_text("header")
    runs_before = len(slow_stack.api(f"/api/series/{sid}")["runs"])
    page.click("#retest")
    page.wait_for_selector(".flash")
    assert "queued" in page.inner_text(".flash")
    runs = slow_stack.api(f"/api/series/{sid}")["runs"]
    assert len(runs) == runs_before + 1 and runs[0]["trigger"] == "web" and runs[0]["requested_by"] == MAINTAINER
    page.wait_for_selector(f'tr[data-run="{runs[0]["id"]}"]')
    shot(page, "retest")
    assert not dialogs


@pytest.fixture
def hostile_site(bot_settings) -> Iterator[tuple[str, int]]:
    from sqlalchemy import select

    from bot.db.models import Patch
    from bot.db.session import session_scope
    from bot.web.app import create_app
    from tests.integration.test_web_hostile import hostile_mails, poison_a_run

    for raw in hostile_mails():
        deliver(bot_settings, raw)
    with session_scope(bot_settings.database_url) as session:
        long_id = session.scalar(select(Patch.series_id).where(Patch.message_id == "long@x"))
        rlo = session.scalar(select(Patch.series_id).where(Patch.message_id == "rlo@x"))
    poison_a_run(bot_settings, rlo)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(bot_settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    yield f"http://127.0.0.1:{port}", long_id, rlo
    server.should_exit = True
    thread.join(10)


def test_hostile_mail_renders_inert_and_fits_the_page(browser, hostile_site):
    base, long_id, rlo = hostile_site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    for url, name in (("/", "hostile-list"), (f"/series/{long_id}", "hostile-long"), (f"/series/{rlo}", "hostile-rlo"),
                      ("/logs/run-evil/build.log", "hostile-log")):
        page.goto(base + url)
        time.sleep(0.3)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280 + 2, (url, width)  # a 3000-character subject wraps instead of widening the page
        assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
        assert page.evaluate("document.querySelectorAll('img[onerror], svg[onload], b').length") == 0
        shot(page, name)
    assert "<script>alert(1)</script>" in page.inner_text("pre.log")
    assert not dialogs and not errors
    # with JavaScript off the pages still work (live.js only refreshes in place)
    context = browser.new_context(java_script_enabled=False)
    static = context.new_page()
    static.goto(f"{base}/series/{rlo}")
    assert static.inner_text("table.matrix td[data-step='build']") == "fail"
    context.close()


def test_screenshots_folder_is_ignored_by_git():
    import subprocess

    inside = shutil.which("git") and subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=ROOT,
                                                    capture_output=True).returncode == 0
    if not inside:
        pytest.skip("not a git work tree")
    done = subprocess.run(["git", "check-ignore", "-q", str(SHOTS / "x.png")], cwd=ROOT)
    assert done.returncode == 0
