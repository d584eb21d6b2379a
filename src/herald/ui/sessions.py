"""Console sessions: a signed cookie naming the API key a user signed in with.

The cookie holds the account, the key's id and prefix, when the session started and ends,
and a random nonce, signed with HMAC-SHA256 under the console's secret. It is HttpOnly (no
script reads it), SameSite=Strict (no other site's page sends it) and Secure on HTTPS. Every
request checks the signature and the expiry, then that the key still works
(herald.campaigns.keys.key_in_force): revoking the key ends its sessions at once, in every
process. The key itself is never stored in the cookie.

CSRF: each form carries a token derived from the session's nonce (an HMAC under the same
secret); a POST whose token does not match is refused. The sign-in form, before any session,
uses a double-submit token (a random cookie repeated in the form).

The secret is `[ui] session_key`, or a random key kept in `state_dir/ui-session.key`
(created once, mode 0600), so that restarts and the processes of one host share it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from herald.config import Config

COOKIE = "herald_session"
SIGN_IN_COOKIE = "herald_sign_in"  # the sign-in form's double-submit CSRF token
SECRET_FILE = "ui-session.key"
MAX_COOKIE_CHARS = 1024  # anything longer is not ours: refused before it is decoded


@dataclass(frozen=True)
class Session:
    """Who a console request acts for: the account and the key it signed in with."""

    account_id: int
    account_name: str
    key_id: int
    key_prefix: str
    started_at: int  # epoch seconds
    expires_at: int
    nonce: str

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires_at


def load_secret(config: Config) -> bytes:
    """The signing key: the configured one, else the host's key file (made on first use)."""
    if config.ui.session_key is not None:
        return config.ui.session_key.get_secret_value().encode()
    path = Path(config.state_dir) / SECRET_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:  # O_EXCL: of two processes starting at once, one writes and both read its key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs sessions into cookie values and reads them back. The secret is read at the first
    console request (`secret` is called once), so an API that no one opens the console of
    never creates the key file."""

    def __init__(self, secret: Callable[[], bytes], lifetime: timedelta) -> None:
        self._load = secret
        self._secret: bytes | None = None
        self.lifetime = lifetime

    def _mac(self, purpose: bytes, payload: bytes) -> bytes:
        if self._secret is None:
            secret = self._load()
            if len(secret) < 16:
                raise ValueError("the console's session secret needs at least 16 bytes")
            self._secret = secret
        return hmac.new(self._secret, purpose + b"\0" + payload, hashlib.sha256).digest()

    def start(
        self, *, account_id: int, account_name: str, key_id: int, key_prefix: str, now: datetime
    ) -> Session:
        started = int(now.timestamp())
        return Session(
            account_id=account_id,
            account_name=account_name,
            key_id=key_id,
            key_prefix=key_prefix,
            started_at=started,
            expires_at=started + int(self.lifetime.total_seconds()),
            nonce=secrets.token_urlsafe(16),
        )

    def encode(self, session: Session) -> str:
        payload = json.dumps(asdict(session), separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(b'session', payload))}"

    def decode(self, value: str | None, now: datetime) -> Session | None:
        """The session a cookie value carries; None if absent, forged, malformed or expired."""
        if not value or len(value) > MAX_COOKIE_CHARS or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._mac(b"session", payload)):
            return None
        try:
            session = Session(**json.loads(payload))
        except (ValueError, TypeError):
            return None
        return None if session.expired(now) else session

    def csrf_token(self, session: Session) -> str:
        """The token every form of this session carries."""
        return _b64(self._mac(b"csrf", session.nonce.encode()))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def sign_in_token_ok(cookie: str | None, field: str | None) -> bool:
    return bool(cookie) and bool(field) and hmac.compare_digest(str(cookie), str(field))


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
