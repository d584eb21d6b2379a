"""Issue 25, item 10: several named keys per account, with expiry, last-used time and
revocation that takes effect at once, in every process sharing the database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from herald.api.app import create_app
from herald.api.context import AppContext
from herald.campaigns import keys as key_service
from herald.store import accounts as store
from herald.store.db import connect
from herald.store.migrations import load_migrations
from tests.api.conftest import CONFIG, Api
from tests.api.support import Clock, serve


def error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:500]
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


async def test_keys_are_created_listed_and_shown_once(api: Api) -> None:
    acme = await api.account()
    r = await acme.http.post("/account/keys", json={"name": "billing"})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["api_key"]
    assert key.startswith(created["prefix"]) and created["state"] == "active"
    assert (created["name"], created["expires_at"], created["current"]) == ("billing", None, False)

    async with api.client(key) as billing:
        me = (await billing.get("/account")).json()
        assert me["name"] == "acme" and me["api_key_prefix"] == created["prefix"]
        listed = (await billing.get("/account/keys")).json()
    assert listed["total"] == 2
    names = {k["name"]: k for k in listed["items"]}
    assert set(names) == {"default", "billing"}
    assert names["billing"]["current"] and not names["default"]["current"]
    assert all("api_key" not in k for k in listed["items"])  # never shown again
    error(await acme.http.post("/account/keys", json={"name": "billing"}), 409, "key_name_conflict")
    error(await acme.http.post("/account/keys", json={"name": " padded"}), 422, "invalid_request")


async def test_a_revoked_key_answers_401_at_once_in_every_process(api: Api) -> None:
    """Two apps on one database stand for two herald processes: a key revoked through one
    is refused by the other at the very next request (no cache outlives a revocation)."""
    acme = await api.account()
    other = create_app(AppContext(db=api.db, config=CONFIG, clock=api.clock, runner=None))  # type: ignore[arg-type]
    spare = (await acme.http.post("/account/keys", json={"name": "spare"})).json()
    async with (
        serve(other) as other_url,
        httpx.AsyncClient(
            base_url=other_url + "/v1", headers={"Authorization": f"Bearer {spare['api_key']}"}
        ) as elsewhere,
    ):
        assert (await elsewhere.get("/balance")).status_code == 200
        r = await acme.http.delete(f"/account/keys/{spare['id']}")
        assert r.status_code == 200 and r.json()["state"] == "revoked"
        err = error(await elsewhere.get("/balance"), 401, "unauthorized")
        assert "revoked" in err["message"] and spare["prefix"] in err["message"]
        # Its body is not read either: the key is refused first.
        error(await elsewhere.post("/senders", json={"address": "X"}), 401, "unauthorized")
    again = await acme.http.delete(f"/account/keys/{spare['id']}")
    assert again.status_code == 200 and again.json()["revoked_at"] == r.json()["revoked_at"]
    error(await acme.http.delete("/account/keys/999999"), 404, "key_not_found")


async def test_the_last_working_key_is_kept_unless_forced(api: Api) -> None:
    acme = await api.account()
    mine = (await acme.http.get("/account/keys")).json()["items"][0]
    err = error(await acme.http.delete(f"/account/keys/{mine['id']}"), 409, "last_active_key")
    assert err["details"] == {"key_id": mine["id"]}
    assert (await acme.http.get("/balance")).status_code == 200
    # An expired key does not count as a working one.
    soon = api.clock() + timedelta(minutes=5)
    await acme.http.post("/account/keys", json={"name": "soon", "expires_at": soon.isoformat()})
    api.clock.advance(600)
    error(await acme.http.delete(f"/account/keys/{mine['id']}"), 409, "last_active_key")
    r = await acme.http.delete(f"/account/keys/{mine['id']}", params={"force": "true"})
    assert r.status_code == 200 and r.json()["current"]
    error(await acme.http.get("/balance"), 401, "unauthorized")


async def test_two_keys_revoking_each_other_at_once_leave_one(api: Api) -> None:
    acme = await api.account()
    first = (await acme.http.get("/account/keys")).json()["items"][0]
    second = (await acme.http.post("/account/keys", json={"name": "second"})).json()
    async with api.client(second["api_key"]) as other:
        answers = await asyncio.gather(
            acme.http.delete(f"/account/keys/{second['id']}"),
            other.delete(f"/account/keys/{first['id']}"),
        )
    # One revocation wins. The other is refused as the last working key (409), or, when the
    # winner committed before the loser's key was checked, with 401: its key is gone.
    assert sorted(r.status_code for r in answers) in ([200, 401], [200, 409])
    async with api.db.acquire() as conn:
        _, usable = await store.live_keys(conn, acme.id, api.clock())
    assert usable == 1


async def test_keys_expire_on_the_clock(api: Api) -> None:
    acme = await api.account()
    past = api.clock() - timedelta(seconds=1)
    err = error(
        await acme.http.post("/account/keys", json={"name": "old", "expires_at": past.isoformat()}),
        400,
        "invalid_expiry",
    )
    assert err["details"]["expires_at"]
    hour = api.clock() + timedelta(hours=1)
    created = (
        await acme.http.post("/account/keys", json={"name": "hour", "expires_at": hour.isoformat()})
    ).json()
    async with api.client(created["api_key"]) as short:
        assert (await short.get("/balance")).status_code == 200
        api.clock.advance(3600)
        err = error(await short.get("/balance"), 401, "unauthorized")
    assert "expired" in err["message"]
    states = {k["name"]: k["state"] for k in (await acme.http.get("/account/keys")).json()["items"]}
    assert states == {"default": "active", "hour": "expired"}


async def test_last_used_is_written_at_most_once_a_minute(api: Api) -> None:
    acme = await api.account()

    async def stamp() -> tuple[object, object]:
        async with api.db.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT last_used_at, xmin::text AS version FROM api_keys WHERE account_id = $1",
                acme.id,
            )
        return row["last_used_at"], row["version"]

    assert (await stamp())[0] is None
    await acme.http.get("/balance")
    first = await stamp()
    assert first[0] == api.clock()
    for _ in range(20):
        api.clock.advance(2)
        assert (await acme.http.get("/balance")).status_code == 200
    assert await stamp() == first  # 20 requests within the minute: the row was not written
    api.clock.advance(20)
    await acme.http.get("/balance")
    assert (await stamp())[0] == api.clock()


async def test_an_account_has_at_most_a_hundred_live_keys(api: Api) -> None:
    acme = await api.account()
    async with api.db.acquire() as conn:
        for n in range(key_service.MAX_LIVE_KEYS - 1):
            await store.insert_key(conn, acme.id, f"k{n}", now=api.clock(), expires_at=None)
    err = error(
        await acme.http.post("/account/keys", json={"name": "one more"}), 409, "too_many_keys"
    )
    assert err["details"] == {"max": key_service.MAX_LIVE_KEYS}
    page = (await acme.http.get("/account/keys", params={"page_size": 500})).json()
    assert page["total"] == key_service.MAX_LIVE_KEYS
    await acme.http.delete(f"/account/keys/{page['items'][-1]['id']}")
    assert (await acme.http.post("/account/keys", json={"name": "one more"})).status_code == 201


async def test_keys_of_accounts_made_before_migration_7_still_work(blank_db_dsn: str) -> None:
    migrations = load_migrations()
    conn = await connect(blank_db_dsn)
    try:
        for migration in migrations[:6]:
            await conn.execute(migration.sql)
        key = store.new_api_key()
        await conn.execute(
            "INSERT INTO accounts (name, api_key_hash, api_key_prefix, webhook_secret)"
            " VALUES ('acme', $1, $2, 's')",
            store.hash_api_key(key),
            store.key_prefix(key),
        )
        assert migrations[6].name == "api_keys"
        await conn.execute(migrations[6].sql)
        presented = await store.key_by_hash(conn, key)
    finally:
        await conn.close()
    assert presented is not None and presented.account_name == "acme"
    assert (presented.key.name, presented.key.prefix) == ("default", store.key_prefix(key))
    assert presented.key.state(Clock()()) == "active"


async def test_each_start_of_the_demo_setup_replaces_the_demo_key(api: Api) -> None:
    async with api.db.acquire() as conn:
        first = await store.ensure_demo_account(conn, api.clock())
        second = await store.ensure_demo_account(conn, api.clock())
        old, new = await store.key_by_hash(conn, first), await store.key_by_hash(conn, second)
    assert old is not None and new is not None
    assert (old.key.state(api.clock()), new.key.state(api.clock())) == ("revoked", "active")
    assert old.key.name == new.key.name == "default" and new.account_name == "demo"
