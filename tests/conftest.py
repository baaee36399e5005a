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
