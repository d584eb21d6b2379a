"""Who is calling: the Bearer API key of a request, checked against the database.

Every check reads the key's row (one probe of the hash index, no cache), so a key revoked
through any herald process or `herald account keys revoke` answers 401 from the next request
on, everywhere. Expired keys answer 401 too, from the moment the clock passes `expires_at`.
The time a key was last used is written at most once a minute per key (see
herald/store/accounts.py), so a busy key costs one small UPDATE a minute, not one a request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from herald.errors import RequestError
from herald.store import accounts as store
from herald.store.db import Database

BEARER = "bearer"


@dataclass(frozen=True)
class Caller:
    """The account a request acts for, and the key it used."""

    account_id: int
    account_name: str
    key_id: int
    key_prefix: str


def bearer_token(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header; RequestError names what is wrong."""
    if not authorization:
        raise RequestError("unauthorized", "missing `Authorization: Bearer <API key>` header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER or not token:
        raise RequestError(
            "unauthorized", "the Authorization header must be `Bearer <API key>`", None
        )
    return token


class Authenticator:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def __call__(self, authorization: str | None) -> Caller:
        """The caller of a request with this Authorization header; RequestError
        ("unauthorized") when there is no usable key."""
        token = bearer_token(authorization)
        now = self._clock()
        async with self._db.acquire() as conn:
            presented = await store.key_by_hash(conn, token)
            if presented is None:
                raise RequestError("unauthorized", "unknown API key")
            key = presented.key
            state = key.state(now)
            if state == "revoked":
                assert key.revoked_at is not None
                raise RequestError(
                    "unauthorized",
                    f"API key {key.prefix}… was revoked at {key.revoked_at.isoformat()}",
                )
            if state == "expired":
                assert key.expires_at is not None
                raise RequestError(
                    "unauthorized", f"API key {key.prefix}… expired at {key.expires_at.isoformat()}"
                )
            if store.needs_touch(key, now):
                await store.touch_key(conn, key.id, now)
        return Caller(key.account_id, presented.account_name, key.id, key.prefix)
