"""Routing: first matching route wins; round-robin over healthy binds; failover."""

from __future__ import annotations

import pytest

from herald.config import RouteConfig
from herald.delivery.router import NoRouteError, Router

ROUTES = [
    RouteConfig(name="greek-mobile", prefixes=("3069",), binds=("gr1", "gr2")),
    RouteConfig(name="canada", countries=("CA",), binds=("ca",)),
    RouteConfig(name="brand", senders=("Brand",), binds=("premium",)),
    RouteConfig(name="default", binds=("a", "b", "c")),
]


def make(down: set[str] | None = None) -> Router:
    down = down if down is not None else set()
    return Router(ROUTES, healthy=lambda name: name not in down)


def test_first_matching_route_wins() -> None:
    r = make()
    assert r.route_for("+306948530920", "Brand").name == "greek-mobile"
    assert r.route_for("+14165550123", "x").name == "canada"  # Toronto: NANP, region CA
    assert r.route_for("+12125550123", "x").name == "default"  # New York: NANP, region US
    assert r.route_for("+447700900123", "Brand").name == "brand"
    assert r.route_for("+447700900123", "Other").name == "default"


def test_no_route_names_destination_and_sender() -> None:
    r = Router([RouteConfig(name="gr", prefixes=("30",), binds=("a",))], healthy=lambda _: True)
    with pytest.raises(NoRouteError, match=r"\+447700900123.*'Shop'"):
        r.route_for("+447700900123", "Shop")


def test_round_robin_over_healthy_binds_and_failover() -> None:
    down: set[str] = set()
    r = make(down)
    route = r.route_for("+447700900123", "x")
    assert [r.pick_bind(route) for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]
    down.add("b")
    assert [r.pick_bind(route) for _ in range(4)] == ["a", "c", "a", "c"]
    down.update({"a", "c"})
    assert r.pick_bind(route) is None
    down.clear()
    assert r.pick_bind(route) in {"a", "b", "c"}


def test_cache_keeps_answers_consistent() -> None:
    r = make()
    for _ in range(3):
        assert r.route_for("+306948530920", "s").name == "greek-mobile"
        assert r.route_for("+302101234567", "s").name == "default"  # landline prefix differs
