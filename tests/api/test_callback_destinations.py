"""Issue 25, item 9: callbacks never go to internal addresses unless the operator allows them.

Deliveries go to a real HTTP receiver on 127.0.0.1. Host names are resolved by the system
resolver (`localhost`) or, for names that must stand for other addresses, by a resolver the
test hands the worker: no test connects anywhere but 127.0.0.1, even when it fails."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address, ip_network
from typing import Any

import httpx
import pytest

from herald.api.app import create_app
from herald.api.context import AppContext
from herald.config import CallbacksConfig
from herald.delivery.callbacks import CallbackWorker
from herald.delivery.destinations import (
    DestinationPolicy,
    IPAddress,
    ResolutionFailed,
    kind_of,
)
from herald.metrics import Metrics
from herald.store.db import Database
from tests.api.conftest import CONFIG, Api
from tests.api.support import serve
from tests.api.test_callbacks import add_callback, deliver_all, outbox, receiver

UNGUARDED = CONFIG.model_copy(update={"callbacks": CallbacksConfig()})


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 carrying 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 carrying 10.0.0.1
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_internal_addresses_are_told_from_public_ones(address: str, kind: str | None) -> None:
    assert kind_of(ip_address(address)) == kind


def test_the_allow_list_opens_networks_and_their_ipv6_forms() -> None:
    policy = DestinationPolicy([ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8")])
    for allowed in ("127.0.0.1", "10.200.0.5", "::ffff:127.0.0.1", "::ffff:10.0.0.1"):
        assert policy.refusal(ip_address(allowed)) is None, allowed
    assert policy.refusal(ip_address("127.0.0.2")) == "a loopback address"
    assert policy.refusal(ip_address("::1")) == "a loopback address"
    assert policy.refusal(ip_address("::ffff:192.168.0.1")) == (
        "an IPv6 address carrying the private IPv4 address 192.168.0.1"
    )


async def test_internal_callback_urls_are_refused_when_a_campaign_is_made(api: Api) -> None:
    acme = await api.account()
    strict = create_app(AppContext(db=api.db, config=UNGUARDED, clock=api.clock, runner=None))  # type: ignore[arg-type]
    base = {"name": "Hooks", "sender": "Herald", "message": "Hi", "to": ["+306948530920"]}
    base["scheduled_at"] = "2099-01-01T00:00:00Z"
    async with (
        serve(strict) as url,
        httpx.AsyncClient(
            base_url=url + "/v1", headers={"Authorization": f"Bearer {acme.account.api_key}"}
        ) as http,
    ):
        for host, field in [
            ("127.0.0.1:8080", "callback"),
            ("[::1]", "campaign_callback"),
            ("169.254.169.254", "callback"),
            ("10.0.0.7", "campaign_callback"),
            ("localhost:9000", "callback"),
            ("[::ffff:127.0.0.1]", "callback"),
        ]:
            r = await http.post("/campaigns", json={**base, field: f"http://{host}/hook"})
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "invalid_request"
            assert error["details"][0]["location"] == f"body.{field}"
            assert "callbacks go to public addresses only" in error["message"]
        # A name is checked when delivering, against what it resolves to then.
        r = await http.post("/campaigns", json={**base, "callback": "https://hooks.example.com/x"})
        assert r.status_code == 201, r.text
        patched = await http.patch(
            f"/campaigns/{r.json()['id']}", json={"callback": "http://169.254.169.254/latest"}
        )
        assert patched.status_code == 422
        assert patched.json()["error"]["details"][0]["location"] == "body.callback"
    # With 127.0.0.1/32 allowed (the `api` fixture's config), the same URL is taken.
    r = await acme.http.post(
        "/campaigns", json={**base, "name": "Local", "callback": "http://127.0.0.1:8080/h"}
    )
    assert r.status_code == 201, r.text


def worker(db: Database, clock: Any, resolve: Any = None, **config: Any) -> CallbackWorker:
    settings = CallbacksConfig(**{"max_attempts": 5, **config})
    extra = {"resolve": resolve} if resolve is not None else {}
    return CallbackWorker(
        db, config=settings, metrics=Metrics(), clock=clock, jitter=lambda: 0.5, **extra
    )


class Resolver:
    """Stands for DNS: answers each name from a script (the last answer repeats)."""

    def __init__(self, answers: dict[str, list[Sequence[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        script = self.answers.get(host)
        if not script:
            raise ResolutionFailed(f"cannot resolve {host}: Name or service not known")
        found = script.pop(0) if len(script) > 1 else script[0]
        return [ip_address(a) for a in found]


async def test_internal_destinations_are_refused_when_delivering(api: Api) -> None:
    """The issue's three: loopback by address, by name and as IPv4-mapped IPv6. Each is
    tried once and is dead with the reason; the receiver behind them sees nothing."""
    acme = await api.account()
    async with receiver() as (endpoint, url):
        port = url.rsplit(":", 1)[1]
        ids = {
            await add_callback(api.db, acme.id, f"http://127.0.0.1:{port}/a"): "127.0.0.1 is a "
            "loopback address",
            await add_callback(api.db, acme.id, f"http://localhost:{port}/b"): "localhost "
            "resolves to 127.0.0.1, which is a loopback address",
            await add_callback(
                api.db, acme.id, f"http://[::ffff:127.0.0.1]:{port}/c"
            ): "::ffff:127.0.0.1 is an IPv6 address carrying the loopback IPv4 address 127.0.0.1",
        }
        w = worker(api.db, api.clock)
        assert await deliver_all(w) == 3
        api.clock.advance(3600)
        assert await deliver_all(w) == 0  # dead: never tried again
        await w._client.aclose()  # type: ignore[union-attr]
    assert endpoint.received == []
    rows = {r["id"]: r for r in await outbox(api.db)}
    for callback_id, reason in ids.items():
        row = rows[callback_id]
        assert (row["status"], row["attempts"]) == ("dead", 1)
        assert row["last_error"].startswith(f"refused: {reason}"), row["last_error"]
        assert "callbacks.allow_private" in row["last_error"]


async def test_a_name_is_refused_if_any_of_its_addresses_is(api: Api) -> None:
    acme = await api.account()
    async with receiver() as (endpoint, url):
        port = url.rsplit(":", 1)[1]
        dns = Resolver({"mixed.example.test": [["127.0.0.1", "10.1.2.3"]]})
        mixed = await add_callback(api.db, acme.id, f"http://mixed.example.test:{port}/m")
        w = worker(api.db, api.clock, dns, allow_private=["127.0.0.1/32"])
        assert await deliver_all(w) == 1
        await w._client.aclose()  # type: ignore[union-attr]
    assert endpoint.received == []  # not even to the allowed first address
    row = {r["id"]: r for r in await outbox(api.db)}[mixed]
    assert row["status"] == "dead"
    assert (
        "mixed.example.test resolves to 10.1.2.3, which is a private address" in (row["last_error"])
    )


async def test_the_request_goes_to_the_address_that_was_checked(api: Api) -> None:
    """DNS rebinding: the name answers an allowed address for the check, then an internal
    one. The request goes to the checked address (the system resolver, which knows nothing
    of this name, is never asked), with the URL's name in the Host header; the next
    delivery resolves again and is refused."""
    acme = await api.account()
    async with receiver() as (endpoint, url):
        port = url.rsplit(":", 1)[1]
        dns = Resolver({"hooks.example.test": [["127.0.0.1"], ["169.254.169.254"]]})
        first = await add_callback(api.db, acme.id, f"http://hooks.example.test:{port}/one")
        w = worker(api.db, api.clock, dns, allow_private=["127.0.0.1/32"])
        assert await deliver_all(w) == 1
        second = await add_callback(api.db, acme.id, f"http://hooks.example.test:{port}/two")
        assert await deliver_all(w) == 1
        await w._client.aclose()  # type: ignore[union-attr]
    assert dns.asked == ["hooks.example.test", "hooks.example.test"]  # once per delivery
    assert [r.path for r in endpoint.received] == ["/one"]
    assert endpoint.received[0].headers["host"] == f"hooks.example.test:{port}"
    rows = {r["id"]: r for r in await outbox(api.db)}
    assert rows[first]["status"] == "delivered"
    assert rows[second]["status"] == "dead"
    assert (
        "resolves to 169.254.169.254, which is a link-local address" in rows[second]["last_error"]
    )


async def test_a_name_that_does_not_resolve_is_retried(api: Api) -> None:
    acme = await api.account()
    gone = await add_callback(api.db, acme.id, "https://gone.example.test/x")
    w = worker(api.db, api.clock, Resolver({}))
    assert await deliver_all(w) == 1
    await w._client.aclose()  # type: ignore[union-attr]
    row = {r["id"]: r for r in await outbox(api.db)}[gone]
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "cannot resolve gone.example.test: Name or service not known"


async def test_a_host_with_several_allowed_addresses_is_tried_in_order(api: Api) -> None:
    """::1 first (nothing listens there for this receiver), then 127.0.0.1."""
    acme = await api.account()
    async with receiver() as (endpoint, url):
        port = url.rsplit(":", 1)[1]
        dns = Resolver({"dual.example.test": [["::1", "127.0.0.1"]]})
        await add_callback(api.db, acme.id, f"http://dual.example.test:{port}/d")
        w = worker(api.db, api.clock, dns, allow_private=["127.0.0.1/32", "::1/128"])
        assert await deliver_all(w) == 1
        await w._client.aclose()  # type: ignore[union-attr]
    assert [r.path for r in endpoint.received] == ["/d"]
    assert {r["status"] for r in await outbox(api.db)} == {"delivered"}
