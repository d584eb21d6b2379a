"""Status callbacks: enqueued in the transaction of the change they report, delivered by a
worker from the durable outbox.

Enqueue
    `enqueue_message_callbacks(conn, changes)` for message status changes (the writer's
    `on_changes` hook accepts it as is), `enqueue_click_callbacks(conn, event_ids)` for
    clicks on tracked links, and `enqueue_campaign_callback(conn, campaign, event,
    progress)` for campaign lifecycle events. Both write outbox rows in the caller's
    transaction, so a callback exists if and only if the change committed.

Deliver
    `CallbackWorker.run(stop)` claims due rows (a lease: another herald skips them), POSTs
    each body with at most `concurrency` requests in flight, each bounded by `timeout`, and
    records the outcome: 2xx is delivered; anything else is retried with exponential backoff
    and jitter until `max_attempts`, then the row is dead. A slow or failing endpoint holds one
    slot for at most `timeout` and never touches the send path, which only writes rows.

Destinations
    Before each attempt the URL's host is resolved and every address checked
    (herald/delivery/destinations.py): an internal address (loopback, private, link-local,
    ...) not in `callbacks.allow_private` makes the row dead at once, with the reason as its
    `last_error`. The request goes to an address that passed, with the URL's name as Host
    header and TLS SNI, so DNS cannot change the destination after the check.

Signature
    `X-Herald-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes under the
    account's webhook secret. The body carries `callback_id` (the same on every retry: receivers
    deduplicate on it) and `attempt_at` (this attempt's time, covered by the signature:
    receivers may refuse bodies older than a few minutes, which stops replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from herald import __version__
from herald.config import CallbacksConfig
from herald.delivery.destinations import (
    DestinationPolicy,
    DestinationRefused,
    ResolutionFailed,
    Resolver,
    system_resolver,
)
from herald.metrics import Metrics
from herald.states import CALLBACK, MESSAGE, transition
from herald.store import callbacks as store
from herald.store import links as link_store
from herald.store.db import Database
from herald.store.rows import Row

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Herald-Signature"
# Message statuses reported to the campaign's callback URL: the outcomes a customer acts on.
# queued/deferred/sending are internal steps of the send path.
REPORTED_STATUSES = frozenset({"sent", "delivered", "failed", "rejected", "unknown", "stopped"})


def callback_sequence(status: str) -> int:
    """The `sequence` of a message's callback for `status`. A message reports at most two
    statuses, in this order: `sent` (it is never entered twice), then its final status
    (final statuses never change; states.MESSAGE). Deliveries run concurrently and retries
    reorder them, so callbacks may arrive out of order: a receiver keeps the highest sequence
    it has seen per message. A message delivered before its `sent` was stored reports only
    the final status (sequence 2)."""
    return 2 if status in MESSAGE.final else 1


# Campaign events and the campaign status each reports.
CAMPAIGN_EVENTS = {
    "running": "running",
    "suspended": "suspended",
    "resumed": "running",
    "stopped": "stopped",
    "completed": "completed",
}
_LEASE_MARGIN = timedelta(seconds=60)  # a claimed row is someone's for timeout + this


class MessageStatusChange(Protocol):
    """What the send path reports per message (herald.delivery.writer.StatusChange fits)."""

    @property
    def message_id(self) -> int: ...
    @property
    def new(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def at(self) -> datetime: ...


async def enqueue_message_callbacks(conn: Any, changes: Iterable[MessageStatusChange]) -> int:
    """Outbox rows for the reported status changes whose campaign has a callback URL, with
    the message's parts and receipts as they stand in this transaction. Returns how many."""
    rows = [c for c in changes if c.new in REPORTED_STATUSES]
    if not rows:
        return 0
    transition(CALLBACK, None, "create")
    return await store.enqueue_message_callbacks(
        conn,
        [c.message_id for c in rows],
        [c.new for c in rows],
        [c.reason for c in rows],
        [c.at for c in rows],
        [callback_sequence(c.new) for c in rows],
    )


async def enqueue_click_callbacks(conn: Any, event_ids: Sequence[int]) -> int:
    """`message.clicked` outbox rows (kind `clicked`) for the click events `event_ids` whose
    campaign has a per-message callback URL, in the transaction that stored the clicks; each
    carries the message's clicks so far. Returns how many."""
    if not event_ids:
        return 0
    transition(CALLBACK, None, "create")
    return await link_store.enqueue_click_callbacks(conn, event_ids)


async def enqueue_campaign_callback(
    conn: Any,
    campaign: Row,
    event: str,
    progress: Mapping[str, Any] | None,
    *,
    at: datetime | None = None,
    reason: Mapping[str, Any] | None = None,
) -> int | None:
    """An outbox row for a campaign event (running, suspended, resumed, stopped, completed)
    when the campaign has a `campaign_callback_url`; its id, or None. `reason` ({"code",
    "message"}) says why, when herald itself stopped the campaign."""
    if event not in CAMPAIGN_EVENTS:
        raise ValueError(f"unknown campaign event {event!r}; one of {sorted(CAMPAIGN_EVENTS)}")
    url = campaign["campaign_callback_url"]
    if not url:
        return None
    transition(CALLBACK, None, "create")
    body = {
        "event": f"campaign.{event}",
        "campaign_id": campaign["id"],
        "name": campaign["name"],
        "status": CAMPAIGN_EVENTS[event],
        "at": (at or datetime.now(UTC)).isoformat(),
        "progress": dict(progress) if progress is not None else None,
    }
    if reason is not None:
        body["reason"] = dict(reason)
    return await store.enqueue(conn, campaign["account_id"], url, body, "campaign")


class CallbackGate:
    """The writer's on_changes hook: per-message callbacks, asking the database only about
    campaigns that have a callback URL. Which campaigns do is cached for `ttl` seconds (a
    campaign's URLs change only while it is scheduled), so a flush of messages whose
    campaigns want no callbacks costs no query at all."""

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._wants: dict[int, tuple[bool, float]] = {}  # campaign id -> (has URL, checked)

    def needed(self, campaign_ids: Iterable[int | None]) -> bool:
        """False only when every campaign is known (and recently) to want no callbacks: the
        writer then needs no transaction for this hook. Answers from the cache alone."""
        now, wants, ttl = self._clock(), self._wants, self._ttl
        for campaign_id in campaign_ids:
            if campaign_id is None:
                return True
            known = wants.get(campaign_id)
            if known is None or known[0] or now - known[1] > ttl:
                return True
        return False

    async def __call__(self, conn: Any, changes: Sequence[Any]) -> None:
        now, wants, ttl = self._clock(), self._wants, self._ttl
        stale = {
            c.campaign_id
            for c in changes
            if c.campaign_id is not None
            and (c.campaign_id not in wants or now - wants[c.campaign_id][1] > ttl)
        }
        if stale:
            if len(self._wants) > 100_000:
                self._wants.clear()
            with_url = await store.campaigns_with_callback(conn, sorted(stale))
            for campaign_id in stale:
                self._wants[campaign_id] = (campaign_id in with_url, now)
        wanted = [c for c in changes if c.campaign_id is None or self._wants[c.campaign_id][0]]
        if wanted:
            await enqueue_message_callbacks(conn, wanted)


def sign(secret: str, body: bytes) -> str:
    """The X-Herald-Signature value of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int, config: CallbacksConfig, jitter: float) -> float:
    """Seconds before attempt `attempts + 1`: base * 2^(attempts-1) capped at backoff_max,
    then "equal jitter" (half fixed, half random with `jitter` in [0, 1)) so endpoints that
    failed together are not retried together."""
    delay = min(config.backoff_max, config.backoff_base * 2 ** (attempts - 1))
    return delay / 2 + delay / 2 * jitter


class CallbackWorker:
    def __init__(
        self,
        db: Database,
        *,
        config: CallbacksConfig,
        metrics: Metrics,
        clock: Callable[[], datetime],
        client: httpx.AsyncClient | None = None,
        poll_interval: float = 1.0,
        jitter: Callable[[], float] = random.random,
        resolve: Resolver = system_resolver,
    ) -> None:
        self._db = db
        self._config = config
        self._destinations = DestinationPolicy(config.allow_private)
        self._resolve = resolve
        self._metrics = metrics
        self._clock = clock
        self._client = client
        self._poll = poll_interval
        self._jitter = jitter
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._depth = 0
        metrics.callback_outbox_depth = lambda: self._depth

    def wake(self) -> None:
        """Look for due callbacks now rather than at the next poll."""
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then let the requests in flight finish (each is
        bounded by the timeout) and return."""
        own_client = self._client is None
        if own_client:
            self._client = self._new_client()
        try:
            while not stop.is_set():
                try:
                    claimed = await self.deliver_due()
                    self._depth = await self._outbox_depth()
                except Exception:  # the database is away: keep polling, never die
                    log.exception("callback worker: claiming failed; retrying")
                    claimed = 0
                if claimed and self.in_flight < self._config.concurrency:
                    continue  # there may be more due right now
                await _first(stop, self._wakeup, within=self._poll)
                self._wakeup.clear()
        finally:
            await self.drain()
            with contextlib.suppress(Exception):
                self._depth = await self._outbox_depth()
            if own_client and self._client is not None:
                await self._client.aclose()
                self._client = None

    async def deliver_due(self) -> int:
        """Claim as many due callbacks as there are free slots and start delivering them;
        how many were claimed. Deliveries finish in the background (see `drain`)."""
        free = self._config.concurrency - self.in_flight
        if free <= 0:
            return 0
        if self._client is None:
            self._client = self._new_client()
        now = self._clock()
        lease = now + timedelta(seconds=self._config.timeout) + _LEASE_MARGIN
        async with self._db.acquire() as conn:
            rows = await store.claim_due(conn, now, free, lease)
            secrets = await store.webhook_secrets(conn, {r["account_id"] for r in rows})
        for row in rows:
            task = asyncio.create_task(self._deliver(row, secrets.get(row["account_id"], "")))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        return len(rows)

    async def drain(self) -> None:
        """Wait for every delivery in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wakeup.set()  # a slot is free

    def _new_client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self._config.concurrency)
        return httpx.AsyncClient(
            timeout=self._config.timeout,
            limits=limits,
            follow_redirects=False,
            headers={"User-Agent": f"herald/{__version__}"},
        )

    async def _outbox_depth(self) -> int:
        async with self._db.acquire() as conn:
            return await store.outbox_depth(conn)

    async def _deliver(self, row: Row, secret: str) -> None:
        payload = {
            "callback_id": row["id"],
            "attempt": row["attempts"],
            "attempt_at": self._clock().isoformat(),
            **row["body"],
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            "X-Herald-Callback-Id": str(row["id"]),
            "X-Herald-Event": str(row["body"].get("event", row["kind"])),
        }
        error: str | None = None
        final = False
        try:
            async with asyncio.timeout(self._config.timeout):
                response = await self._post(row["url"], body, headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except DestinationRefused as exc:
            error, final = f"refused: {exc}"[:500], True
        except ResolutionFailed as exc:
            error = str(exc)[:500]
        except TimeoutError:
            error = f"no answer within {self._config.timeout:g}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        try:
            await self._record(row, error, final=final)
        except Exception:  # the lease expires and the row is tried again
            log.exception("callback %s: recording the outcome failed", row["id"])

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST to an address of the URL's host that the destination policy accepts, trying
        them in the resolver's order until one connects. The connection goes to that address;
        the Host header and TLS SNI keep the URL's name (and certificates are checked
        against it)."""
        assert self._client is not None
        target = httpx.URL(url)
        host = target.raw_host.decode("ascii")  # IDNA-encoded, IPv6 without brackets
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = await self._destinations.vet(host, port, self._resolve)
        host_header = target.netloc.decode("ascii")
        extensions = {"sni_hostname": host} if target.scheme == "https" else {}
        for n, ip in enumerate(addresses, start=1):
            try:
                return await self._client.post(
                    target.copy_with(host=str(ip)),
                    content=body,
                    headers={**headers, "Host": host_header},
                    extensions=extensions,
                )
            except httpx.ConnectError:
                if n == len(addresses):
                    raise
        raise AssertionError("vet() returns at least one address")

    async def _record(self, row: Row, error: str | None, *, final: bool) -> None:
        async with self._db.acquire() as conn:
            if error is None:
                transition(CALLBACK, "pending", "deliver")
                await store.delivered(conn, row["id"])
                self._metrics.callbacks_delivered += 1
                return
            self._metrics.callback_failures += 1
            attempts = row["attempts"]
            if final or attempts >= self._config.max_attempts:
                transition(CALLBACK, "pending", "give_up")
                log.warning(
                    "callback %s to %s is dead after %d attempts: %s",
                    row["id"],
                    row["url"],
                    attempts,
                    error,
                )
                await store.failed(conn, row["id"], error, None)
                return
            transition(CALLBACK, "pending", "retry")
            delay = retry_delay(attempts, self._config, self._jitter())
            await store.failed(conn, row["id"], error, self._clock() + timedelta(seconds=delay))


async def _first(*events: asyncio.Event, within: float) -> None:
    """Return when one of `events` is set, or after `within` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waiters, return_exceptions=True)
