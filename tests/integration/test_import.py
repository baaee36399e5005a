"""Other ways in, same path: mbox, maildir and a public-inbox thread over HTTP (a local server)."""

from __future__ import annotations

import datetime as dt
import gzip
import http.server
import mailbox
import subprocess
import sys
import threading
from dataclasses import replace

from sqlalchemy import select

from bot.db.models import CommandRow, OutboundMail, Run
from bot.db.session import session_scope
from bot.receive.importers import HistoryPolicy, import_lore, import_mbox, thread_url
from tests.fixtures_demo import demo_mails
from tests.helpers import make_mail
from tests.ingest_driver import all_series

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent.parent


def mbox_bytes(mails: list[bytes]) -> bytes:
    out = b""
    for raw in mails:
        quoted = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in raw.split(b"\n"))
        out += b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + quoted.rstrip(b"\n") + b"\n\n"
    return out


def test_mbox_import_is_idempotent(bot_settings, tmp_path):
    path = tmp_path / "archive.mbox"
    path.write_bytes(mbox_bytes(demo_mails("mb")))
    first = import_mbox(path, bot_settings)
    again = import_mbox(path, bot_settings)
    assert (first.seen, first.stored, first.duplicates) == (5, 5, 0)
    assert (again.stored, again.duplicates) == (0, 5)
    [s] = all_series(bot_settings)
    # imported mail is history: the series is recorded, complete, and never tested or announced
    assert s["indexes"] == [1, 2, 3, 4] and s["state"] == "complete" and s["runs"] == []


def test_import_tests_when_asked_and_mail_after_since(bot_settings, tmp_path):
    path = tmp_path / "archive.mbox"
    path.write_bytes(mbox_bytes(demo_mails("t1")))
    import_mbox(path, bot_settings, policy=HistoryPolicy(test=True))
    [s] = all_series(bot_settings)
    assert s["state"] == "queued" and s["runs"] == [("new-series", "queued")]
    path.write_bytes(mbox_bytes(demo_mails("t2")))  # dated 2026-01-05: after --since it is new mail
    import_mbox(path, bot_settings, policy=HistoryPolicy(since=dt.datetime(2026, 1, 1)))
    path.write_bytes(mbox_bytes(demo_mails("t3")))
    import_mbox(path, bot_settings, policy=HistoryPolicy(since=dt.datetime(2026, 6, 1)))
    assert [len(s["runs"]) for s in all_series(bot_settings)] == [1, 1, 0]


def test_commands_in_imported_mail_are_recorded_not_executed(bot_settings, tmp_path):
    mails = demo_mails("cm")
    command = make_mail("Re: [PATCH 1/4] x", msgid="cmd-retest@x", in_reply_to="cm-1@example.org",
                        body="seriesbot: retest\n")
    path = tmp_path / "archive.mbox"
    path.write_bytes(mbox_bytes([*mails, command]))
    import_mbox(path, bot_settings)
    with session_scope(bot_settings.database_url) as session:
        [row] = session.scalars(select(CommandRow)).all()
        assert (row.verb, row.allowed, row.replied, row.run_id) == ("retest", False, False, None)
        assert "history" in row.decision
        assert session.scalars(select(OutboundMail)).all() == []
        assert session.scalars(select(Run)).all() == []


def test_maildir_import_through_the_cli(bot_settings, tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    for raw in demo_mails("md"):
        box.add(raw)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(bot_settings.config_path), "import",
                           "mbox", str(tmp_path / "Maildir")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "stored 5" in done.stdout
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2, 3, 4]


class _Lore(http.server.BaseHTTPRequestHandler):
    threads: dict[str, bytes] = {}
    requests: list[str] = []

    def do_GET(self):  # noqa: N802
        self.requests.append(self.path)
        body = self.threads.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_lore_thread_import_over_http(bot_settings):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Lore)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/demo-list"
    _Lore.threads["/demo-list/lo-0@example.org/t.mbox.gz"] = gzip.compress(mbox_bytes(demo_mails("lo")))
    try:
        project = replace(bot_settings.project("demo"), lore_url=base)
        report = import_lore(project, "<lo-0@example.org>", bot_settings)
        assert report.stored == 5
        again = import_lore(project, f"{base}/lo-0@example.org/", bot_settings)
        assert again.duplicates == 5
    finally:
        server.shutdown()
    [s] = all_series(bot_settings)
    assert s["indexes"] == [1, 2, 3, 4]


def test_thread_url_forms():
    assert thread_url("https://lore.kernel.org/libvir-list", "<a.b@c>")[0] == \
        "https://lore.kernel.org/libvir-list/a.b@c/t.mbox.gz"
    url, msgid = thread_url("", "https://lore.kernel.org/all/20260101.1@host.example/T/#u")
    assert url == "https://lore.kernel.org/all/20260101.1@host.example/t.mbox.gz" and msgid == "20260101.1@host.example"
