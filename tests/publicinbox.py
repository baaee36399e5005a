"""A real public-inbox (Debian's `public-inbox` 1.9) on loopback, for the tests that follow a list's
archive or look messages up in it.

    inbox = PublicInbox(tmp_path / "pi", name="devel", address="devel@demo.seriesbot.test")
    inbox.create()                      # public-inbox-init -V2, in its own HOME / PI_CONFIG
    inbox.add(raw_bytes)                # public-inbox-mda: one commit in the newest epoch
    base = inbox.serve()                # public-inbox-httpd on 127.0.0.1:<free port>
    # base == "http://127.0.0.1:PORT/devel": <base>/<msgid>/raw, <base>/git/N.git, <base>/manifest.js.gz
    inbox.stop()

Everything runs with HOME and PI_CONFIG inside the inbox's own folder, so nothing touches the
user's ~/.public-inbox. Mail goes in through public-inbox's own code (`public-inbox-mda`, or its
V2Writable for the cases the MDA cannot make on demand, such as starting a new epoch, which a real
inbox does at about 1 GB), and it is served by `public-inbox-httpd`, so what a test reads over
HTTP is what a real public-inbox serves.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx

from tests.helpers import free_port, wait_for

# Adds one message through public-inbox's V2Writable; PI_NEW_EPOCH=1 makes it roll over to a new
# epoch first, as it does by itself once the newest epoch's pack passes its size limit (1 GB).
_ADD_PL = r"""
use strict;
use PublicInbox::Config;
use PublicInbox::InboxWritable;
use PublicInbox::Eml;
my $cfg = PublicInbox::Config->new;
my $ibx = $cfg->lookup_name($ARGV[0]) or die "no inbox $ARGV[0]\n";
$ibx = PublicInbox::InboxWritable->new($ibx);
if ($ENV{PI_NEW_EPOCH}) {
    no warnings 'redefine';
    *PublicInbox::Git::packed_bytes = sub { 2**40 };
}
my $im = $ibx->importer(0);
binmode STDIN;
# messages as "<length>\n<bytes>", one after another
while (defined(my $len = <STDIN>)) {
    read(STDIN, my $raw, int($len)) == int($len) or die "short read\n";
    defined $im->add(PublicInbox::Eml->new(\$raw)) or die "not added (a duplicate?)\n";
}
$im->done;
"""


class PublicInboxError(RuntimeError):
    pass


class PublicInbox:
    """One v2 inbox in `root` (its git epochs under `root/inbox/git/N.git`), and its HTTP server."""

    def __init__(self, root: Path, *, name: str = "devel", address: str = "devel@demo.seriesbot.test") -> None:
        self.root = Path(root)
        self.name = name
        self.address = address
        self.home = self.root / "home"
        self.config = self.home / ".public-inbox" / "config"
        self.inboxdir = self.root / "inbox"
        self.port = 0
        self._httpd: subprocess.Popen[bytes] | None = None

    # -- the inbox ----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PI_", "GIT_"))}
        env.update(HOME=str(self.home), PI_CONFIG=str(self.config), PI_EMERGENCY=str(self.root / "emergency"),
                   TZ="UTC", LC_ALL="C.UTF-8")
        return env

    def _run(self, argv: list[str], *, stdin: bytes | None = None, extra_env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        env = self.env()
        env.update(extra_env or {})
        done = subprocess.run(argv, input=stdin, env=env, cwd=self.root, capture_output=True, timeout=timeout)
        if done.returncode != 0:
            raise PublicInboxError(f"{argv[0]} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
        return done

    def create(self) -> PublicInbox:
        """public-inbox-init -V2, spam checking off (the MDA would want spamc)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._run(["public-inbox-init", "-V2", self.name, str(self.inboxdir),
                   f"http://127.0.0.1/{self.name}", self.address])
        self._run(["git", "config", "-f", str(self.config), "publicinboxmda.spamcheck", "none"])
        return self

    def add(self, raw: bytes) -> None:
        """Deliver one message as a list server would (public-inbox-mda): a commit in the newest epoch."""
        self._run(["public-inbox-mda", "--no-precheck"], stdin=raw,
                  extra_env={"ORIGINAL_RECIPIENT": self.address})

    def add_in_new_epoch(self, raw: bytes) -> None:
        """Start the next epoch (`git/N+1.git`) with this message, as the inbox does at its size limit."""
        self._run(["perl", "-e", _ADD_PL, self.name], stdin=b"%d\n%s" % (len(raw), raw),
                  extra_env={"PI_NEW_EPOCH": "1"})

    def add_many(self, raws: list[bytes], timeout: float = 600) -> None:
        """Many messages in one public-inbox process (one commit each, in order): far faster than
        one public-inbox-mda per message."""
        self._run(["perl", "-e", _ADD_PL, self.name], stdin=b"".join(b"%d\n%s" % (len(r), r) for r in raws),
                  timeout=timeout)

    def remove(self, raw: bytes) -> None:
        """public-inbox-learn rm: a new commit that deletes the message (history is kept)."""
        self._run(["public-inbox-learn", "rm"], stdin=raw, extra_env={"ORIGINAL_RECIPIENT": self.address})

    def purge(self, raw: bytes) -> None:
        """public-inbox-purge: rewrites the epoch's history without the message (a force-push)."""
        self._run(["public-inbox-purge", "--all"], stdin=raw)

    def epochs(self) -> list[int]:
        gitdir = self.inboxdir / "git"
        return sorted(int(p.name.removesuffix(".git")) for p in gitdir.glob("*.git")) if gitdir.is_dir() else []

    def epoch_dir(self, epoch: int) -> Path:
        return self.inboxdir / "git" / f"{epoch}.git"

    def head(self, epoch: int) -> str:
        """The newest commit of an epoch (its `master`)."""
        done = self._run(["git", "--git-dir", str(self.epoch_dir(epoch)), "rev-parse", "refs/heads/master"])
        return done.stdout.decode().strip()

    # -- HTTP ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if not self.port:
            raise PublicInboxError("not served: call serve() first")
        return f"http://127.0.0.1:{self.port}/{self.name}"

    def serve(self, timeout: float = 30) -> str:
        """public-inbox-httpd on 127.0.0.1 with a free port; returns the inbox's base URL."""
        if self._httpd is not None:
            return self.base_url
        self.port = free_port()
        log = open(self.root / "httpd.log", "ab")  # noqa: SIM115 - the server's whole life
        self._httpd = subprocess.Popen(["public-inbox-httpd", "-l", f"http://127.0.0.1:{self.port}"],
                                       env=self.env(), cwd=self.root, stdout=log, stderr=log,
                                       start_new_session=True)
        log.close()

        def answers() -> bool:
            if self._httpd is not None and self._httpd.poll() is not None:
                raise PublicInboxError(f"public-inbox-httpd exited {self._httpd.returncode}: "
                                       f"{(self.root / 'httpd.log').read_text(errors='replace')}")
            try:
                return httpx.get(f"{self.base_url}/manifest.js.gz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout, what="public-inbox-httpd")
        return self.base_url

    def stop(self) -> None:
        proc, self._httpd = self._httpd, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def raw_message(self, msgid: str) -> bytes | None:
        """What the server answers at `<base>/<msgid>/raw` (None for a 404)."""
        r = httpx.get(f"{self.base_url}/{msgid.strip('<>')}/raw", timeout=10)
        return r.content if r.status_code == 200 else None

    def __enter__(self) -> PublicInbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_served(inbox: PublicInbox, msgid: str, timeout: float = 20) -> bytes:
    """Wait until the server answers for a message (the HTTP side reads the index as it is written)."""
    return wait_for(lambda: inbox.raw_message(msgid), timeout, what=f"{msgid} served by public-inbox-httpd")
