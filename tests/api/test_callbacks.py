"""Callbacks from the outbox to a real HTTP server on 127.0.0.1: signed bodies, retries with
backoff on an injected clock, dead after max attempts, a slow endpoint never blocking others."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from herald.campaigns.lifecycle import enqueue_campaigns_completed
from herald.campaigns.service import scheduled_run_failed
from herald.config import CallbacksConfig
from herald.delivery.callbacks import (
    CallbackWorker,
    enqueue_campaign_callback,
    enqueue_message_callbacks,
    retry_delay,
)
from herald.delivery.writer import StatusChange
from herald.errors import InsufficientBalanceError
from herald.metrics import Metrics
from herald.store.db import Database
from herald.store.queries import queries
from tests.api.conftest import Api
from tests.api.support import Clock, serve

NUMBERS = ["+306948530920", "+306948530921"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint: answers each path with its scripted statuses (the last one
    repeats; 200 by default) and holds requests to gated paths until the gate opens."""

    statuses: dict[str, list[int]] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        assert scope["type"] == "http"
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if path in self.gates:
            await self.gates[path].wait()
        script = self.statuses.get(path, [200])
        status = script.pop(0) if len(script) > 1 else script[0]
        self.received.append(Received(path, headers, body))
        self._changed.set()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def wait_for(self, done: Callable[[list[Received]], bool]) -> None:
        while not done(self.received):
            self._changed.clear()
            await self._changed.wait()

    def paths(self) -> list[str]:
        return [r.path for r in self.received]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    async with serve(endpoint) as url:
        try:
            yield endpoint, url
        finally:
            for gate in endpoint.gates.values():
                gate.set()


def verify(secret: str, request: Received) -> bool:
    """What a receiver does (docs/api.md shows the same)."""
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers["x-herald-signature"])


def worker(
    db: Database, clock: Clock, metrics: Metrics | None = None, **config: Any
) -> CallbackWorker:
    settings = CallbacksConfig(
        **{"backoff_base": 10.0, "max_attempts": 3, "allow_private": ["127.0.0.1/32"], **config}
    )
    return CallbackWorker(
        db, config=settings, metrics=metrics or Metrics(), clock=clock, jitter=lambda: 0.5
    )


async def deliver_all(w: CallbackWorker) -> int:
    """Deliver everything due now; how many attempts were made."""
    total = 0
    while claimed := await w.deliver_due():
        total += claimed
        await w.drain()
    await w.drain()
    return total


async def outbox(db: Database) -> list[Any]:
    async with db.acquire() as conn:
        return await conn.fetch("SELECT * FROM callback_outbox ORDER BY id")


async def add_callback(db: Database, account_id: int, url: str, n: int = 0) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(
            queries.enqueue_callback, account_id, url, {"event": "test", "n": n}, "message"
        )


async def test_lifecycle_callbacks_arrive_signed_with_their_bodies(api: Api) -> None:
    acme = await api.account()
    async with receiver() as (endpoint, url):
        r = await acme.http.post(
            "/campaigns",
            json={
                "name": "Hooks",
                "sender": "Herald",
                "message": "Hello",
                "to": NUMBERS,
                "callback": f"{url}/messages",
                "campaign_callback": f"{url}/campaigns",
            },
        )
        campaign = r.json()
        await acme.http.post(f"/campaigns/{campaign['id']}/suspend")
        await acme.http.post(f"/campaigns/{campaign['id']}/resume")
        await acme.http.post(f"/campaigns/{campaign['id']}/stop")
        metrics = Metrics()
        w = worker(api.db, api.clock, metrics)
        assert await deliver_all(w) == 6
        await w._client.aclose()  # type: ignore[union-attr]

    assert all(verify(acme.account.webhook_secret, req) for req in endpoint.received)
    assert not verify("another secret", endpoint.received[0])
    # Delivered concurrently, so they may arrive in any order; `at` orders them (docs/api.md),
    # and the outbox id among events of one instant (the test's clock stands still).
    campaign_events = sorted(
        (r.json for r in endpoint.received if r.path == "/campaigns"),
        key=lambda e: (e["at"], e["callback_id"]),
    )
    assert [e["event"] for e in campaign_events] == [
        "campaign.running",
        "campaign.suspended",
        "campaign.resumed",
        "campaign.stopped",
    ]
    assert [e["status"] for e in campaign_events] == ["running", "suspended", "running", "stopped"]
    stopped = campaign_events[-1]
    assert stopped["campaign_id"] == campaign["id"] and stopped["name"] == "Hooks"
    assert stopped["progress"]["messages"]["stopped"] == 2
    assert {"callback_id", "attempt", "attempt_at", "at"} <= set(stopped)
    messages = [r.json for r in endpoint.received if r.path == "/messages"]
    assert sorted(m["phone"] for m in messages) == NUMBERS
    first = messages[0]
    assert (first["event"], first["status"], first["reason"]) == (
        "message.status",
        "stopped",
        "campaign_stopped",
    )
    assert (
        first["campaign_id"] == campaign["id"] and first["batch_id"] == campaign["run"]["batch_id"]
    )
    assert first["parts"] == [
        {
            "seq": 1,
            "state": "pending",
            "smsc_message_id": None,
            "submitted_at": None,
            "receipt_state": None,
            "receipt_error": None,
            "network_error": None,
            "receipt_at": None,
        }
    ]
    request = endpoint.received[0]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-herald-callback-id"] == str(request.json["callback_id"])
    assert metrics.callbacks_delivered == 6 and metrics.callback_failures == 0
    assert {r["status"] for r in await outbox(api.db)} == {"delivered"}


async def test_failures_back_off_on_the_clock_then_the_row_is_dead(api: Api) -> None:
    acme = await api.account()
    metrics = Metrics()
    async with receiver() as (endpoint, url):
        endpoint.statuses["/down"] = [500]
        endpoint.statuses["/flaky"] = [503, 200]
        down = await add_callback(api.db, acme.id, f"{url}/down")
        flaky = await add_callback(api.db, acme.id, f"{url}/flaky")
        w = worker(api.db, api.clock, metrics)
        start = api.clock()
        assert await deliver_all(w) == 2
        rows = {r["id"]: r for r in await outbox(api.db)}
        first_delay = retry_delay(1, w._config, 0.5)
        assert first_delay == 7.5  # 10 s doubled per attempt, half of it jittered
        for row in rows.values():
            assert row["status"] == "pending" and row["attempts"] == 1
            assert row["next_attempt_at"] == start + timedelta(seconds=first_delay)
        assert rows[down]["last_error"] == "HTTP 500"

        api.clock.advance(first_delay - 1)
        assert await deliver_all(w) == 0  # not due yet
        api.clock.advance(1)
        assert await deliver_all(w) == 2  # flaky now answers 200; down fails again
        rows = {r["id"]: r for r in await outbox(api.db)}
        assert rows[flaky]["status"] == "delivered"
        assert rows[down]["next_attempt_at"] == api.clock() + timedelta(seconds=15)
        api.clock.advance(15)
        assert await deliver_all(w) == 1
        rows = {r["id"]: r for r in await outbox(api.db)}
        assert (rows[down]["status"], rows[down]["attempts"]) == ("dead", 3)
        api.clock.advance(3600)
        assert await deliver_all(w) == 0  # dead rows are never tried again
        await w._client.aclose()  # type: ignore[union-attr]
    assert endpoint.paths().count("/down") == 3
    assert [r.json["attempt"] for r in endpoint.received if r.path == "/down"] == [1, 2, 3]
    assert (metrics.callback_failures, metrics.callbacks_delivered) == (4, 1)


async def test_a_slow_endpoint_holds_one_slot_and_never_blocks_the_others(api: Api) -> None:
    acme = await api.account()
    metrics = Metrics()
    async with receiver() as (endpoint, url):
        endpoint.gates["/slow"] = asyncio.Event()
        await add_callback(api.db, acme.id, f"{url}/slow")
        for n in range(5):
            await add_callback(api.db, acme.id, f"{url}/fast", n)
        w = worker(api.db, api.clock, metrics, concurrency=2)
        stop = asyncio.Event()
        task = asyncio.create_task(w.run(stop))
        await endpoint.wait_for(lambda got: [r.path for r in got].count("/fast") == 5)
        assert "/slow" not in endpoint.paths() and w.in_flight >= 1
        endpoint.gates["/slow"].set()
        await endpoint.wait_for(lambda got: "/slow" in [r.path for r in got])
        stop.set()
        await task
    assert {r["status"] for r in await outbox(api.db)} == {"delivered"}
    assert metrics.callbacks_delivered == 6 and metrics.callback_outbox_depth() == 0


async def test_an_endpoint_that_never_answers_is_cut_off_by_the_timeout(api: Api) -> None:
    acme = await api.account()
    async with receiver() as (endpoint, url):
        endpoint.gates["/hang"] = asyncio.Event()
        hang = await add_callback(api.db, acme.id, f"{url}/hang")
        w = worker(api.db, api.clock, timeout=0.2)
        assert await deliver_all(w) == 1
        await w._client.aclose()  # type: ignore[union-attr]
    row = {r["id"]: r for r in await outbox(api.db)}[hang]
    assert (row["status"], row["last_error"]) == ("pending", "no answer within 0.2s")


async def test_unreachable_endpoint_is_a_failure_like_any_other(api: Api) -> None:
    acme = await api.account()
    async with serve(Receiver()) as url:
        pass  # the port is closed again: nothing listens there now
    gone = await add_callback(api.db, acme.id, url + "/gone")
    w = worker(api.db, api.clock)
    assert await deliver_all(w) == 1
    await w._client.aclose()  # type: ignore[union-attr]
    row = {r["id"]: r for r in await outbox(api.db)}[gone]
    assert row["status"] == "pending" and row["last_error"].startswith("ConnectError")


def test_a_message_reports_sent_at_most_once_then_one_final_status() -> None:
    # What callback_sequence (1 for sent, 2 for final) relies on, read from the state table.
    from herald.delivery.callbacks import REPORTED_STATUSES, callback_sequence
    from herald.states import MESSAGE

    assert REPORTED_STATUSES - MESSAGE.final == {"sent"}
    after_sent = {target for (source, _), target in MESSAGE.table.items() if source == "sent"}
    assert after_sent <= MESSAGE.final  # from sent: only to a final status, never back
    assert [callback_sequence(s) for s in ("sent", "delivered", "stopped")] == [1, 2, 2]


async def test_hooks_for_the_send_path_and_the_scheduler(api: Api) -> None:
    acme = await api.account(credit=1)
    r = await acme.http.post(
        "/campaigns",
        json={
            "name": "Hooked",
            "sender": "Herald",
            "message": "Hello",
            "to": NUMBERS[:1],
            "callback": "http://127.0.0.1:9/m",
            "campaign_callback": "http://127.0.0.1:9/c",
        },
    )
    campaign = r.json()
    async with api.db.acquire() as conn:
        message_id = await conn.fetchval("SELECT id FROM messages")
        at = api.clock()
        changes = [
            StatusChange(message_id, "queued", "sending", None, at),  # not reported
            StatusChange(message_id, "sending", "sent", None, at),
            StatusChange(message_id, "sent", "delivered", None, at),
        ]
        assert await enqueue_message_callbacks(conn, changes) == 2
        completed = await conn.fetch(
            "SELECT id, account_id, name, campaign_callback_url FROM campaigns"
        )
        await enqueue_campaigns_completed(conn, completed)
        with pytest.raises(ValueError, match="unknown campaign event"):
            await enqueue_campaign_callback(conn, completed[0], "exploded", None)
        bodies = [
            r["body"] for r in await conn.fetch("SELECT body FROM callback_outbox ORDER BY id")
        ]
    assert [b["event"] for b in bodies] == [
        "campaign.running",
        "message.status",
        "message.status",
        "campaign.completed",
    ]
    assert [b.get("status") for b in bodies[1:3]] == ["sent", "delivered"]
    # Receivers order a message's callbacks by sequence (they may arrive out of order).
    assert [b.get("sequence") for b in bodies[1:3]] == [1, 2]

    # A scheduled campaign that cannot start is stopped, and its callback says why.
    late = (
        await acme.http.post(
            "/campaigns",
            json={
                "name": "Too poor",
                "sender": "Herald",
                "message": "Hello",
                "to": NUMBERS,
                "campaign_callback": "http://127.0.0.1:9/c",
                "scheduled_at": (api.clock() + timedelta(hours=1)).isoformat(),
            },
        )
    ).json()
    await scheduled_run_failed(api.db, late["id"], acme.id, InsufficientBalanceError(2, 0))
    assert (await acme.http.get(f"/campaigns/{late['id']}")).json()["status"] == "stopped"
    async with api.db.acquire() as conn:
        body = await conn.fetchval("SELECT body FROM callback_outbox ORDER BY id DESC LIMIT 1")
    assert body["event"] == "campaign.stopped"
    assert body["reason"]["code"] == "insufficient_balance"
    assert campaign["status"] == "running"
