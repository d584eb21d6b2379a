"""The database watch and liveness, on a server that is someone else's (a DSN): the database
goes away for real (dropped, its connections terminated) and comes back."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from herald.api.ops import ops_router
from herald.daemon import _liveness
from herald.metrics import Metrics
from herald.store.db import Database, DatabaseWatch
from tests.conftest import PgCluster


async def not_ready() -> dict[str, object]:
    return {"ready": False}


async def test_liveness_fails_once_the_database_is_gone_past_the_bound(
    pg_cluster: PgCluster,
) -> None:
    name = pg_cluster.create_database()
    now = [0.0]
    lost: list[str] = []
    restored: list[int] = []
    app = FastAPI()
    async with Database(pg_cluster.dsn(name), min_size=1, max_size=2) as db:
        watch = DatabaseWatch(
            db,
            bound=30.0,
            clock=lambda: now[0],
            on_lost=lost.append,
            on_restored=lambda: restored.append(1),
        )
        app.include_router(ops_router(Metrics(), not_ready, _liveness(watch)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald") as api:
            assert await watch.check() and watch.alive
            pg_cluster.drop_database(name)  # WITH (FORCE): every connection of the pool ends
            assert not await watch.check()
            now[0] = 29.0
            assert not await watch.check() and watch.alive
            assert (await api.get("/healthz")).status_code == 200
            now[0] = 31.0
            assert not await watch.check() and not watch.alive
            failing = await api.get("/healthz")
            assert failing.status_code == 503
            assert failing.json() == {
                "status": "failing",
                "reason": "the database has not answered for 31 s",
            }
            assert lost == []  # not herald's server: it keeps trying, liveness tells
            pg_cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_cluster.template}"')
            assert await watch.check() and watch.alive and restored == [1]
            assert (await api.get("/healthz")).json() == {"status": "ok"}
    pg_cluster.drop_database(name)
