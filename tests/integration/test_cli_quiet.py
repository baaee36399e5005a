"""A command on a database already at the head says nothing about migrations; one that applies a
revision says which; --verbose shows Alembic's log always (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.stack import ROOT, drop_postgres, fresh_postgres_url, write_config


def seriesbot(config, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_alembic_speaks_only_when_it_migrates(tmp_path, backend):
    config = write_config(tmp_path, smtp_port=1, web_port=2, relay_port=3)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
    name = None
    if backend == "postgresql":
        env["DATABASE_URL"], name = fresh_postgres_url()
    try:
        first = seriesbot(config, "outbox", "list", env=env)
        assert "Running upgrade  -> 0001" in first and "Running upgrade 0002 -> 0003" in first
        again = seriesbot(config, "outbox", "list", env=env)
        assert "alembic" not in again and again.strip() == "0 mail(s) failed"
        verbose = seriesbot(config, "--verbose", "outbox", "list", env=env)
        assert "INFO alembic.runtime.migration Context impl" in verbose and "Running upgrade" not in verbose
    finally:
        if name:
            drop_postgres(name)
