"""The README's first command after installation: `seriesbot serve` on the embedded default, then
the one command it prints to post the sample series; the replies land in the local list archive."""

from __future__ import annotations

import mailbox
import os
import re
import signal
import subprocess
import sys
import time

from tests.helpers import free_port, wait_for, wait_port
from tests.stack import ROOT, write_config


def test_serve_then_demo_send(tmp_path):
    smtp, web, relay = free_port(), free_port(), free_port()
    config = write_config(tmp_path, smtp_port=smtp, web_port=web, relay_port=relay)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL", "SERIESBOT_CONFIG")}
    log = open(tmp_path / "serve.log", "w")
    serve = subprocess.Popen([sys.executable, "-m", "bot.cli", "--config", str(config), "serve"], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(smtp, 60)
        wait_port(web, 60)
        printed = wait_for(lambda: re.search(r"^\s+(\S+ --config \S+ demo-send)$", (tmp_path / "serve.log").read_text(),
                                             re.M), 30, what="the printed demo-send command")
        text = (tmp_path / "serve.log").read_text()
        assert f"127.0.0.1:{smtp}" in text and f"http://127.0.0.1:{web}/" in text
        argv = printed.group(1).split()
        if argv[0] == "seriesbot" or not os.path.exists(argv[0]):
            argv[0:1] = [sys.executable, "-m", "bot.cli"]
        sent = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        archive = tmp_path / "data" / "list-archive.mbox"
        wait_for(lambda: archive.exists() and len(mailbox.mbox(str(archive))) >= 5, 180,
                 what="5 replies in the local list archive")
        subjects = sorted(m["Subject"] for m in mailbox.mbox(str(archive)))
        assert subjects[0].startswith("Re: [PATCH 0/4]") and all(s.startswith("Re: [PATCH") for s in subjects)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        time.sleep(0.5)
