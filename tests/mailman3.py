"""A real GNU Mailman 3 core on loopback, for the end-to-end test and for making the mail fixtures
under tests/fixtures/mail/mailman3/.

- `ensure_mailman()`: Mailman (PyPI `mailman`, pinned) in its own virtualenv, `.venv-mailman/` at
  the top of the repository, made once (`make test` makes it too; about a minute).
- `MailmanServer`: a `mailman.cfg` in a scratch folder (`layout: here`), LMTP, REST and outgoing
  SMTP on 127.0.0.1, `mailman start` / `stop`, and a small REST client.
- `ListMTA`: the site's MTA as aiosmtpd: what is addressed to a Mailman list (`devel@`, `devel-*@`)
  goes in through Mailman's LMTP, the bot's address to the bot's SMTP port, the rest into an mbox
  (every other member, owners, anyone the bot writes to). Mailman's outgoing SMTP and the bot's
  relay both point here, as they would at a site's Postfix. It can refuse the bot's mail for a
  while (bounces).
"""

from __future__ import annotations

import email
import email.policy
import fcntl
import mailbox
import os
import smtplib
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.helpers import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
MAILMAN_VERSION = "3.3.10"
# Mailman 3.3.10's member queries fail on SQLAlchemy 2.1 (a Select used as a FROM clause)
MAILMAN_PINS = ("sqlalchemy<2.1",)
MAILMAN_VENV = ROOT / ".venv-mailman"
REST_AUTH = ("restadmin", "restpass")


def ensure_mailman(venv: Path = MAILMAN_VENV) -> Path:
    """The `mailman` program of a virtualenv holding Mailman core, made once (under a lock: test
    processes may start together)."""
    program = venv / "bin" / "mailman"
    marker = venv / f".installed-{MAILMAN_VERSION}-2"
    if marker.exists():
        return program
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"mailman=={MAILMAN_VERSION}",
                            *MAILMAN_PINS],
                           check=True, timeout=1200)
            marker.touch()
    return program


MAILMAN_CFG = """\
[mailman]
layout: here
site_owner: listmaster@{domain}

[paths.here]
var_dir: {var}

[mta]
incoming: mailman.mta.null.NullMTA
lmtp_host: 127.0.0.1
lmtp_port: {lmtp}
smtp_host: 127.0.0.1
smtp_port: {smtp}
# one recipient per SMTP transaction, so that refusing one member's mail fails only that member
max_recipients: 1
verp_probes: {verp_probes}

[webservice]
hostname: 127.0.0.1
port: {rest}
admin_user: {rest_user}
admin_pass: {rest_pass}

[archiver.prototype]
enable: no

# its copies go to archive@mail-archive.com, which the test MTA keeps in its mbox: this archiver
# gives posts a real Archived-At header
[archiver.mail_archive]
enable: yes

# runners the tests do not need: fewer processes to start on a busy machine
[runner.archive]
start: no

[runner.digest]
start: {digests}

[bounces]
register_bounces_every: 1s

[runner.bounces]
sleep_time: 1s

# retries of temporary failures and periodic clean-ups: nothing the tests wait for
[runner.retry]
start: no

[runner.task]
start: no

[dmarc]
resolver_timeout: 1s
resolver_lifetime: 1s
"""


class MailmanServer:
    def __init__(self, base: Path, *, smtp_port: int, domain: str, verp_probes: bool = True,
                 digests: bool = False) -> None:
        self.base = base
        self.domain = domain
        self.lmtp_port = free_port()
        self.rest_port = free_port()
        self.smtp_port = smtp_port
        self.program = ensure_mailman()
        base.mkdir(parents=True, exist_ok=True)
        self.cfg = base / "mailman.cfg"
        self.cfg.write_text(MAILMAN_CFG.format(
            domain=domain, var=base / "var", lmtp=self.lmtp_port, smtp=smtp_port, rest=self.rest_port,
            rest_user=REST_AUTH[0], rest_pass=REST_AUTH[1], verp_probes="yes" if verp_probes else "no",
            digests="yes" if digests else "no"))
        self.rest = httpx.Client(base_url=f"http://127.0.0.1:{self.rest_port}/3.1", auth=REST_AUTH, timeout=60)

    def mailman(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # Mailman refuses to run as root unless told (CI runs as root)
        root = ["--run-as-root"] if os.geteuid() == 0 else []
        argv = [str(self.program), "-C", str(self.cfg), *root, *args]
        env = {**os.environ, "MAILMAN_CONFIG_FILE": str(self.cfg)}
        # to a file, not a pipe: `start` leaves a daemon holding its output open
        with open(self.base / "mailman-cli.log", "a+") as out:
            start = out.tell()
            done = subprocess.run(argv, cwd=self.base, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
            out.seek(start)
            return subprocess.CompletedProcess(argv, done.returncode, out.read(), "")

    def start(self, timeout: float = 120) -> None:
        done = self.mailman("start")
        assert done.returncode == 0, done.stdout + done.stderr

        def rest_up() -> bool:
            try:
                return self.rest.get("/system/versions").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(rest_up, timeout, interval=0.5, what=f"Mailman's REST API\n{self.logs()}")

    def stop(self) -> None:
        self.mailman("stop", timeout=60)
        pid_file = self.base / "var" / "master.pid"
        deadline = time.monotonic() + 30
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.rest.close()

    def logs(self) -> str:
        out = []
        for path in sorted((self.base / "var" / "logs").glob("*.log")):
            out.append(f"===== mailman {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    # REST
    def call(self, method: str, path: str, **data: Any) -> Any:
        response = self.rest.request(method, path, json=data or None)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def create_list(self, address: str, **config: Any) -> str:
        if not any(d["mail_host"] == self.domain for d in self.call("GET", "/domains").get("entries", [])):
            self.call("POST", "/domains", mail_host=self.domain)
        self.call("POST", "/lists", fqdn_listname=address)
        list_id = address.replace("@", ".")
        if config:
            self.call("PATCH", f"/lists/{list_id}/config", **config)
        return list_id

    def add_member(self, list_id: str, address: str, name: str = "", role: str = "member", **extra: Any) -> None:
        if role == "member":
            self.call("POST", "/members", list_id=list_id, subscriber=address, display_name=name,
                      pre_verified=True, pre_confirmed=True, pre_approved=True, send_welcome_message=False,
                      **extra)
        else:
            self.call("POST", "/members", list_id=list_id, subscriber=address, role=role)

    def members(self, list_id: str) -> dict[str, dict[str, Any]]:
        entries = self.call("GET", f"/lists/{list_id}/roster/member").get("entries", [])
        return {e["email"].lower(): e for e in entries}

    def is_member(self, list_id: str, address: str) -> bool | None:
        """True or False; None while Mailman cannot say (its roster answers 500 for a moment while a
        membership is being removed)."""
        response = self.rest.get(f"/lists/{list_id}/member/{address}")
        return {200: True, 404: False}.get(response.status_code)

    def member_preferences(self, member: dict[str, Any]) -> dict[str, Any]:
        return self.call("GET", f"/members/{member['member_id']}/preferences")

    def held(self, list_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/lists/{list_id}/held").get("entries", [])

    def moderate(self, list_id: str, request_id: int, action: str = "accept") -> None:
        self.call("POST", f"/lists/{list_id}/held/{request_id}", action=action)


@dataclass
class Delivery:
    mail_from: str
    rcpt: str
    route: str  # mailman, bot, mbox, refused
    message: Message
    raw: bytes


@dataclass
class MTAState:
    list_addresses: set[str]
    bot_address: str
    mbox_path: Path
    deliveries: list[Delivery] = field(default_factory=list)
    # the bot's next deliveries to fail, oldest first: "rcpt" refuses it at RCPT (the bot never sees
    # it); "data" hands it to the bot, then answers 550 (a relay that lost track of the delivery)
    bounce_bot: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, rcpt: str) -> str:
        rcpt = rcpt.lower()
        local, _, domain = rcpt.partition("@")
        for address in self.list_addresses:
            list_local, _, list_domain = address.partition("@")
            if domain == list_domain and (local == list_local or local.startswith(list_local + "-")):
                return "mailman"
        return "bot" if rcpt == self.bot_address else "mbox"

    def received(self, route: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if route is None or d.route == route]


class _MTAHandler:
    def __init__(self, state: MTAState, lmtp_port: int, bot_port: int) -> None:
        self.state = state
        self.lmtp_port = lmtp_port
        self.bot_port = bot_port

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        with self.state.lock:
            if self.state.route(address) == "bot" and self.state.bounce_bot[:1] == ["rcpt"]:
                self.state.bounce_bot.pop(0)
                self.state.deliveries.append(Delivery(envelope.mail_from or "", address, "refused", Message(), b""))
                return f"550 5.1.1 <{address}>: mailbox unavailable (bounce test)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, self._deliver, envelope, raw)

    def _deliver(self, envelope: Envelope, raw: bytes) -> str:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        mail_from = envelope.mail_from or ""
        fail_after = False
        for rcpt in envelope.rcpt_tos:
            route = self.state.route(rcpt)
            try:
                if route == "mailman":
                    with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=60) as lmtp:
                        lmtp.sendmail(mail_from, [rcpt], raw)
                elif route == "bot":
                    with smtplib.SMTP("127.0.0.1", self.bot_port, timeout=60) as smtp:
                        smtp.sendmail(mail_from, [rcpt], raw)
                    with self.state.lock:
                        if self.state.bounce_bot[:1] == ["data"]:
                            self.state.bounce_bot.pop(0)
                            fail_after = True
                else:
                    with self.state.lock:
                        box = mailbox.mbox(str(self.state.mbox_path))
                        box.add(msg)
                        box.flush()
                        box.close()
            except smtplib.SMTPResponseException as exc:
                return f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            except (OSError, smtplib.SMTPException) as exc:
                return f"451 4.4.1 next hop failed: {exc!r}"
            with self.state.lock:
                self.state.deliveries.append(Delivery(mail_from, rcpt.lower(), route, msg, raw))
        if fail_after:
            return "550 5.2.0 mailbox unavailable after delivery (bounce test)"
        return "250 OK: delivered"


class _LongLinesSMTP(SMTP):
    line_length_limit = 1 << 20  # patches have long lines; a site's MTA takes them


class _MTAController(Controller):
    def factory(self) -> SMTP:
        return _LongLinesSMTP(self.handler, **self.SMTP_kwargs)


def start_mta(state: MTAState, port: int, lmtp_port: int, bot_port: int) -> Controller:
    controller = _MTAController(_MTAHandler(state, lmtp_port, bot_port), hostname="127.0.0.1", port=port,
                            data_size_limit=50 * 1024 * 1024, enable_SMTPUTF8=True)
    controller.start()
    return controller


def lmtp_post(port: int, mail_from: str, rcpt: str, raw: bytes) -> None:
    """Hand a mail to Mailman as the site's MTA does."""
    with smtplib.LMTP("127.0.0.1", port, timeout=60) as lmtp:
        lmtp.sendmail(mail_from, [rcpt], raw)


if __name__ == "__main__":  # `make test` makes the virtualenv once: python -m tests.mailman3
    print(ensure_mailman())
