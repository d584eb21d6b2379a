"""FastAPI's per-route state is built when herald starts, not at the first request that
reaches each router (src/herald/api/app.py, build_route_state)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from herald.api.app import build_route_state, create_app
from herald.api.context import AppContext
from herald.campaigns.runs import CampaignRunner
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store.accounts import create_account
from herald.store.db import Database
from tests.api.conftest import CONFIG
from tests.api.support import Clock

# FastAPI's lazily built per-route state; the test reads how often it is built.
CONTEXT = getattr(fastapi.routing, "_EffectiveRouteContext", None)
pytestmark = pytest.mark.skipif(
    CONTEXT is None or not hasattr(fastapi.routing, "iter_route_contexts"),
    reason="this FastAPI builds its route state when routes are added",
)


async def routes_built_by_a_request(app: FastAPI, key: str, monkeypatch: pytest.MonkeyPatch) -> int:
    built: list[int] = []
    build: Callable[..., Any] = CONTEXT.from_api_route  # type: ignore[union-attr]

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(CONTEXT, "from_api_route", counted)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://h", headers=headers) as c:
        assert (await c.get("/v1/senders")).status_code == 200
        assert (await c.get("/v1/campaigns")).status_code == 200
    return len(built)


def api_app(database: Database) -> FastAPI:
    """The API as the daemon builds it, before build_route_state."""
    clock, router = Clock(), Router(CONFIG.routes, healthy=lambda _: True)
    runner = CampaignRunner(database, CONFIG, router, clock=clock, metrics=Metrics())
    return create_app(AppContext(db=database, config=CONFIG, clock=clock, runner=runner))


@pytest.mark.parametrize("built_first", [True, False])
async def test_the_first_requests_build_no_route_state(
    database: Database, monkeypatch: pytest.MonkeyPatch, built_first: bool
) -> None:
    async with database.acquire() as conn:
        account = await create_account(conn, "acme", 10)
    app = api_app(database)
    if built_first:
        walked = build_route_state(app)
        assert await routes_built_by_a_request(app, account.api_key, monkeypatch) == 0
        operations = sum(len(methods) for methods in app.openapi()["paths"].values())
        assert walked >= operations > 40  # every route of the API
    else:  # what the start spares them
        assert await routes_built_by_a_request(app, account.api_key, monkeypatch) > 10


def calls(app: FastAPI, mount: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every endpoint and dependency of `app` and of the apps mounted in it (the console),
    with its route's path."""
    for context in fastapi.routing.iter_route_contexts(app.routes):
        route = context.original_route
        path = mount + (context.path or "")
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            yield from calls(route.app, path)
        dependants = [getattr(route, "dependant", None)]
        while dependants:
            dependant = dependants.pop()
            if dependant is None:
                continue
            if dependant.call is not None:
                yield path, dependant.call
            dependants.extend(dependant.dependencies)


async def test_no_request_waits_for_a_worker_thread(database: Database) -> None:
    # FastAPI runs a plain `def` endpoint or dependency in a worker thread: a hop there and
    # back for every request. None of herald's blocks, so each is `async def`.
    app = api_app(database)
    seen = list(calls(app))
    plain = {
        f"{path}: {getattr(call, '__qualname__', call)}"
        for path, call in seen
        if not (
            inspect.iscoroutinefunction(call)
            or inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004
        )
    }
    assert len(seen) > 100 and {"/v1/campaigns", "/ui/campaigns"} <= {path for path, _ in seen}
    assert not plain, sorted(plain)
