"""Docker HEALTHCHECK for a seriesbot container; the role comes from /tmp/seriesbot-role (written by
docker/entrypoint.sh). Exit 0 = healthy.

  smtp    the front answers: 220 banner, EHLO (or LHLO) and NOOP answered 250
  web     GET /healthz answers 200 (GET / on a version without /healthz)
  worker  the database and the broker it works from are reachable
  serve   smtp and web
"""

from __future__ import annotations

import smtplib
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROLE_FILE = Path("/tmp/seriesbot-role")
TIMEOUT = 8.0


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "localhost") else host


def check_smtp(settings) -> None:
    cls = smtplib.LMTP if settings.smtp_in.lmtp else smtplib.SMTP
    client = cls(timeout=TIMEOUT)
    code, banner = client.connect(_local(settings.smtp_in.host), settings.smtp_in.port)
    try:
        if code != 220:
            raise RuntimeError(f"banner {code} {banner!r}")
        code, _ = client.ehlo("healthcheck")  # LMTP's class sends LHLO
        if code != 250:
            raise RuntimeError(f"EHLO/LHLO answered {code}")
        code, _ = client.noop()
        if code != 250:
            raise RuntimeError(f"NOOP answered {code}")
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass


def check_web(settings) -> None:
    base = f"http://{_local(settings.web.host)}:{settings.web.port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=TIMEOUT) as response:
            if response.status == 200:
                return
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise RuntimeError(f"/healthz answered {exc.code}") from None
    with urllib.request.urlopen(f"{base}/", timeout=TIMEOUT) as response:
        if response.status != 200:
            raise RuntimeError(f"/ answered {response.status}")


def check_worker(settings) -> None:
    from kombu import Connection
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.database_url, pool_pre_ping=False)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    if not settings.embedded_broker:
        with Connection(settings.broker_url, connect_timeout=TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1)


def main() -> int:
    try:
        role = ROLE_FILE.read_text().strip()
    except OSError:
        return 0  # not one of our roles (a one-off command): nothing to check
    from bot.settings import load_settings

    checks = {"smtp": [check_smtp], "web": [check_web], "worker": [check_worker],
              "serve": [check_smtp, check_web]}.get(role, [])
    try:
        settings = load_settings()
        for check in checks:
            check(settings)
    except Exception as exc:  # any failure is "unhealthy", with its reason in the health log
        print(f"{role}: unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{role}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
