"""Idempotency keys: a request retried with the same `Idempotency-Key` is answered as the
first time and does nothing new.

The key is claimed in the transaction that does the request's work, and that transaction
stores the answer before it commits (store/sql/messages.sql, claim_idempotency_key). So:

- the same key and the same request within the keys' time to live (24 h by default) gives
  the stored answer again, marked as replayed, and nothing else happens;
- the same key with another request (another operation, or another body) is refused with
  409 `idempotency_key_reused`, naming when the key was first used;
- two requests with one key at the same time: the second waits for the first's transaction
  (up to `lock_timeout`, then 409 `idempotency_key_in_use`) and answers what it answered;
  exactly one does the work;
- a request that fails (any error answer) stores nothing: its transaction rolls back, key
  included, so a retry after fixing the cause (credit added, say) goes ahead.

Keys belong to an account: two accounts may use the same key. Old keys are swept by
maintenance (herald/delivery/maintenance.py), and a key found older than the time to live
starts over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from herald.errors import ConflictError, RequestError
from herald.store import idempotency as store
from herald.store.db import Database

# What the API takes in the header (its schema checks it): visible ASCII, which every HTTP
# stack carries intact. Keys herald makes itself (automatic replies) have spaces, so they
# never meet a caller's.
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


@dataclass(frozen=True)
class Answer:
    """An answer to a request: its HTTP status and its JSON body (JSON values only)."""

    status: int
    body: Any
    replayed: bool = False


def request_hash(operation: str, body: Any) -> bytes:
    """What makes two requests the same: the operation (method and path) and the body as
    parsed (key order, spacing and the body's format, JSON or XML, do not matter)."""
    canonical = json.dumps(
        {"operation": operation, "body": body}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).digest()


Work = Callable[[Any], Awaitable[Answer]]


class Idempotency:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        ttl: timedelta = timedelta(hours=24),
        lock_timeout: float = 60.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._lock_timeout = lock_timeout

    async def perform(
        self,
        account_id: int,
        key: str | None,
        operation: str,
        body: Callable[[], Any],
        work: Work,
    ) -> Answer:
        """Run `work(conn)` in a transaction, or answer what a request with this key already
        answered. `work` does everything on the connection it is given and returns the
        answer; an exception from it leaves nothing behind. `body()` gives the request's body
        as given, read only when there is a key: for a campaign of 20,000 recipients it costs
        about 10 µs a recipient (bench/field.py), which a request without a key need not pay."""
        if key is None:
            async with self._db.acquire() as conn, conn.transaction():
                return await work(conn)
        fingerprint = request_hash(operation, body())
        now = self._clock()
        async with self._db.acquire() as conn, conn.transaction():
            await store.set_lock_timeout(conn, self._lock_timeout)
            try:
                stored = await store.claim(conn, account_id, key, fingerprint, now, now - self._ttl)
            except ConflictError:
                raise RequestError(
                    "idempotency_key_in_use",
                    f"a request with the Idempotency-Key {key!r} is still being processed; "
                    "retry it shortly",
                    {"key": key},
                ) from None
            if stored is not None:
                if stored.request_hash != fingerprint:
                    raise RequestError(
                        "idempotency_key_reused",
                        f"the Idempotency-Key {key!r} was used at "
                        f"{stored.created_at.isoformat()} for another request (another "
                        "operation or another body); use a new key for a new request",
                        {"key": key, "first_used_at": stored.created_at.isoformat()},
                    )
                return Answer(stored.status, stored.body, replayed=True)
            answer = await work(conn)
            await store.save_answer(conn, account_id, key, answer.status, answer.body)
        return answer
