"""Suite-wide fixtures and hooks."""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_sessionfinish(session, exitstatus):
    # a run that executed no test is a failure, not a silent pass
    if session.testscollected == 0 and exitstatus == 5:
        session.exitstatus = 1


@pytest.fixture(scope="session")
def demo_series_repo(tmp_path_factory):
    from tests.fixtures_demo import demo_repo

    return demo_repo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def bot_settings(tmp_path):
    """Settings on a fresh SQLite database with two projects (demo and other), no servers."""
    from bot.db.session import init_db
    from bot.settings import load_settings, set_settings
    from tests.stack import write_config

    config = write_config(tmp_path, smtp_port=1, web_port=2, relay_port=3, extra_projects={"other": OTHER_PROJECT})
    settings = load_settings(config, env={})
    set_settings(settings)
    init_db(settings.database_url)
    return settings


OTHER_PROJECT = """
name = "other"
list_id = "devel.other.test"
list_address = "devel@other.test"
upstream = "/nonexistent/other.git"
branch = "main"
"""
