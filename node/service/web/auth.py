"""Login by a secret link, cookie sessions and CSRF tokens.

    we web  ->  http://127.0.0.1:PORT/login?token=<secret from DATA_DIR/web.token>
    GET /login?token=...  ->  Set-Cookie: we_session=<random>; HttpOnly; SameSite=Strict
                              303 -> /            (the token leaves the address bar)
    every page            ->  needs a live session cookie, else 403
    every POST            ->  needs form field csrf == the session's CSRF token, else 403

Sessions live in memory (a daemon restart logs everyone out; the link logs in again). The
token file is created 0600 and never sent anywhere but the login link.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_FILE = "web.token"
COOKIE = "we_session"
MAX_SESSIONS = 64  # a few browsers per member; the oldest is dropped beyond


def read_or_create_token(data_dir: Path) -> str:
    """The login secret of this data dir, created (0600, no window) on first use."""
    path = Path(data_dir) / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if len(token) >= 32:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def login_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/login?token={token}"


@dataclass
class Sessions:
    token: str
    live: dict[str, str] = field(default_factory=dict)  # session id -> CSRF token

    def check_token(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token.encode())

    def open(self) -> str:
        while len(self.live) >= MAX_SESSIONS:
            self.live.pop(next(iter(self.live)))
        sid = secrets.token_urlsafe(32)
        self.live[sid] = secrets.token_urlsafe(32)
        return sid

    def csrf(self, sid: str | None) -> str | None:
        return self.live.get(sid) if sid else None

    def check_csrf(self, sid: str | None, given: str | None) -> bool:
        want = self.csrf(sid)
        return bool(want and given) and hmac.compare_digest(want.encode(), given.encode())
