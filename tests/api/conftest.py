"""An API served over real HTTP against a fresh database, with the real CampaignRunner.

`api` gives the base URL, the database, the clock, a count of dispatcher wake-ups, and
`api.account(...)`: a new account with an httpx client that carries its key.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from herald.api.app import create_app
from herald.api.context import AppContext
from herald.campaigns.runs import CampaignRunner
from herald.config import Config
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store.accounts import NewAccount, create_account
from herald.store.db import Database
from herald.store.queries import queries
from tests.api.support import Clock, serve

CONFIG = Config.model_validate(
    {
        "binds": [{"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}],
        "routes": [{"name": "all", "binds": ["a"]}],
        "api": {"max_recipients_per_request": 50},
        # The tests' webhook receivers listen on 127.0.0.1 (herald/delivery/destinations.py).
        "callbacks": {"allow_private": ["127.0.0.1/32"]},
    }
)


@dataclass
class Caller:
    account: NewAccount
    http: httpx.AsyncClient

    @property
    def id(self) -> int:
        return self.account.id


@dataclass
class Api:
    url: str
    db: Database
    clock: Clock
    config: Config
    wakes: list[int] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url + "/v1", headers=headers, timeout=30)

    async def account(
        self, name: str = "acme", *, credit: int = 1000, senders: tuple[str, ...] = ("Herald",)
    ) -> Caller:
        async with self.db.acquire() as conn:
            account = await create_account(conn, name, credit)
            for address in senders:
                await conn.execute(queries.create_sender, account.id, address, "alphanumeric", 5, 0)
        http = await self._stack.enter_async_context(self.client(account.api_key))
        return Caller(account, http)


@pytest.fixture
async def api(database: Database) -> AsyncIterator[Api]:
    clock = Clock()
    wakes: list[int] = []
    metrics = Metrics()
    runner = CampaignRunner(
        database,
        CONFIG,
        Router(CONFIG.routes, healthy=lambda _: True),
        clock=clock,
        metrics=metrics,
    )
    app = create_app(
        AppContext(
            db=database,
            config=CONFIG,
            clock=clock,
            runner=runner,
            wake=lambda: wakes.append(1),
            metrics=metrics,
        )
    )
    async with serve(app) as url:
        state = Api(url, database, clock, CONFIG, wakes, metrics)
        async with state._stack:
            yield state
