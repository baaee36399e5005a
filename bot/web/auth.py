"""Who is signed in. Maintainers sign in with the token set for their address
(SERIESBOT_WEB_LOGINS); the session cookie is signed with the web secret (SERIESBOT_WEB_SECRET, else
a random one made once in data_dir/web-secret); every POST from a page carries a CSRF token derived
from the session, and a cross-origin POST is refused. The API takes the same token as
`Authorization: Bearer <token>` (no cookie, so no CSRF). Anonymous users read only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from bot.settings import Settings

COOKIE = "seriesbot_session"
SESSION_SECONDS = 7 * 24 * 3600  # the dashboard stays open all day; a week, then sign in again
MAX_FORM = 16 * 1024
_secrets: dict[str, bytes] = {}


def secret_key(settings: Settings) -> bytes:
    if settings.web.secret_key:
        return settings.web.secret_key.encode()
    key = str(settings.data_dir)
    if key not in _secrets:
        _secrets[key] = _secret_file(settings.data_dir / "web-secret")
    return _secrets[key]


def _secret_file(path: Path) -> bytes:
    """Made once (O_EXCL: two web processes starting together agree on one), then reused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            value = path.read_bytes().strip()
            if value:
                return value
            time.sleep(0.05)
        raise RuntimeError(f"{path} is empty") from None
    value = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as f:
        f.write(value + b"\n")
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def same_text(a: str, b: str) -> bool:
    """compare_digest on text from a request, which may hold any character (str arguments must be
    ASCII, else TypeError)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def _sign(settings: Settings, payload: str) -> str:
    return _b64(hmac.new(secret_key(settings), payload.encode(), hashlib.sha256).digest())


def check_login(settings: Settings, address: str, token: str) -> str | None:
    """The normalised address when the token is the one set for it."""
    address = address.strip().lower()
    expected = settings.web.logins.get(address)
    if not expected or not same_text(expected, token.strip()):
        return None
    return address


def make_session(settings: Settings, address: str, now: float | None = None) -> str:
    payload = _b64(json.dumps({"a": address, "e": int((now or time.time()) + SESSION_SECONDS),
                               "n": secrets.token_hex(8)}).encode())
    return f"{payload}.{_sign(settings, payload)}"


def _session(settings: Settings, request: Request) -> dict[str, object] | None:
    value = request.cookies.get(COOKIE, "")
    payload, _, sig = value.partition(".")
    if not payload or not sig or not same_text(sig, _sign(settings, payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
    except ValueError:
        return None
    if not isinstance(data, dict) or int(data.get("e", 0)) < time.time():
        return None
    if data.get("a") not in settings.web.logins:  # a login removed from the environment ends its sessions
        return None
    return data


def current_user(settings: Settings, request: Request) -> str | None:
    data = _session(settings, request)
    return str(data["a"]) if data else None


def csrf_token(settings: Settings, request: Request) -> str:
    data = _session(settings, request)
    if not data:
        return ""
    return _sign(settings, f"csrf|{data['a']}|{data['n']}")


def csrf_ok(settings: Settings, request: Request, token: str) -> bool:
    expected = csrf_token(settings, request)
    return bool(expected) and same_text(expected, token or "") and same_origin(request)


def same_origin(request: Request) -> bool:
    """A browser's POST names where it comes from; refuse another site's."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def bearer_user(settings: Settings, request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    found = None
    for address, expected in settings.web.logins.items():  # compare with every token: constant time per login
        if same_text(expected, token.strip()):
            found = address
    return found


def may_act(settings: Settings, address: str | None, project: str) -> bool:
    """Maintainers of the project (its config) and the bot's admins may retest and cancel."""
    if not address:
        return False
    conf = settings.projects.get(project)
    admins = {a.lower() for a in settings.admin_addresses}
    return address in admins or (conf is not None and address in conf.maintainers)


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the only kind our pages post), size-capped."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}
