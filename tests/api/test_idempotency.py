"""Idempotency keys on the POSTs that send (issue 21, item 2), against the real PostgreSQL:
a retry answers the first answer and sends nothing new, another body with the key is
refused, concurrent requests with one key send once, a refused request keeps no key, keys are
per account and expire."""

from __future__ import annotations

import asyncio
from typing import Any

from herald.delivery.maintenance import Maintenance
from herald.metrics import Metrics
from tests.api.conftest import Api, Caller
from tests.api.test_api_auth import error

NUMBER = "+306948530920"


class Runs:
    """No scheduled campaigns here: maintenance's scheduler has nothing to start."""

    async def start_run(self, *, campaign_id: int, account_id: int) -> object:
        raise AssertionError("nothing is scheduled")

    async def start_reminder(self, *, campaign_id: int, account_id: int) -> object | None:
        raise AssertionError("nothing is scheduled")

    async def finish_rests(self) -> int:
        return 0  # no send-now run here leaves a rest behind


def body(**fields: Any) -> dict[str, Any]:
    return {"to": NUMBER, "sender": "Herald", "text": "Your code is 4521", **fields}


async def post(caller: Caller, key: str | None, path: str = "/messages", **json: Any) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await caller.http.post(path, json=json or body(), headers=headers)


async def counts(api: Api) -> tuple[int, int, int]:
    async with api.db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM campaigns) AS campaigns,"
            " (SELECT count(*) FROM batches) AS batches,"
            " (SELECT count(*) FROM messages) AS messages"
        )
    return row["campaigns"], row["batches"], row["messages"]


async def test_a_retry_answers_the_first_answer_and_sends_nothing(api: Api) -> None:
    acme = await api.account(credit=10)
    first = await post(acme, "k-1")
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    wakes = len(api.wakes)
    again = await acme.http.post(
        "/messages",
        content=b'{"text": "Your code is 4521",   "sender": "Herald", "to": "+306948530920"}',
        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(api.wakes) == wakes  # nothing new to send
    assert await counts(api) == (1, 1, 1)
    assert (await acme.http.get("/balance")).json()["credit"] == 9

    err = error(await post(acme, "k-1", **body(text="Another text")), 409, "idempotency_key_reused")
    assert err["details"]["key"] == "k-1" and err["details"]["first_used_at"]
    # the same key on another operation is another request too
    error(
        await post(
            acme, "k-1", "/campaigns", name="Cee", sender="Herald", message="Hi", to=[NUMBER]
        ),
        409,
        "idempotency_key_reused",
    )
    # another account's key space is its own
    other = await api.account("other")
    assert (await post(other, "k-1")).headers.get("idempotent-replayed") is None
    # without a key, a repeat sends again
    assert (await post(acme, None)).status_code == 202
    assert await counts(api) == (3, 3, 3)


async def test_concurrent_requests_with_one_key_send_once(api: Api) -> None:
    acme = await api.account(credit=100)
    answers = await asyncio.gather(*(post(acme, "same-key") for _ in range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 7
    assert await counts(api) == (1, 1, 1)
    assert (await acme.http.get("/balance")).json()["credit"] == 99


async def test_a_refused_request_keeps_no_key(api: Api) -> None:
    acme = await api.account(credit=0)
    error(await post(acme, "pay-later"), 402, "insufficient_balance")
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
        await conn.execute("UPDATE accounts SET credit = 5 WHERE id = $1", acme.id)
    retried = await post(acme, "pay-later")
    assert retried.status_code == 202 and "idempotent-replayed" not in retried.headers
    error(
        await acme.http.post("/messages", json=body(), headers={"Idempotency-Key": "has space"}),
        422,
        "invalid_request",
    )


async def test_keys_expire_after_their_time_to_live(api: Api) -> None:
    acme = await api.account(credit=10)
    first = (await post(acme, "daily")).json()
    api.clock.advance(23 * 3600)
    assert (await post(acme, "daily")).json() == first
    api.clock.advance(3600)  # 24 h after the first use: the key starts over
    again = await post(acme, "daily")
    assert again.status_code == 202 and "idempotent-replayed" not in again.headers
    assert again.json()["messages"][0]["id"] != first["messages"][0]["id"]
    api.clock.advance(24 * 3600 + 1)
    maintenance = Maintenance(api.db, Runs(), config=api.config, clock=api.clock, metrics=Metrics())
    assert (await maintenance.tick()).keys_expired == 1  # the sweep
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_campaign_create_and_run_take_keys_too(api: Api) -> None:
    acme = await api.account(credit=100)
    campaign = {"name": "Spring", "sender": "Herald", "message": "Hi", "to": [NUMBER]}
    first = await post(acme, "create-1", "/campaigns", **campaign)
    assert first.status_code == 201, first.text
    again = await post(acme, "create-1", "/campaigns", **campaign)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # not name_conflict: the same answer
    error(await post(acme, None, "/campaigns", **campaign), 409, "name_conflict")

    campaign_id = first.json()["id"]
    async with api.db.acquire() as conn:  # let the first run finish, so it may run again
        await conn.execute(
            "UPDATE messages SET status = 'delivered' WHERE campaign_id = $1", campaign_id
        )
        await conn.execute(
            "UPDATE batches SET status = 'completed' WHERE campaign_id = $1", campaign_id
        )
        await conn.execute("UPDATE campaigns SET status = 'completed' WHERE id = $1", campaign_id)
    path = f"/campaigns/{campaign_id}/run"
    runs = await asyncio.gather(
        *(post(acme, "run-2", path, batch_description="second") for _ in range(4))
    )
    assert {r.status_code for r in runs} == {200} and len({r.text for r in runs}) == 1
    assert runs[0].json()["number"] == 2
    assert await counts(api) == (1, 2, 2)
    error(await post(acme, "run-2", path, batch_description="third"), 409, "idempotency_key_reused")
