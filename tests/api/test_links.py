"""Tracked and opt-out links through real HTTP: a click followed by a real client to a real
site, the opt-out page through its real form, and the rules a campaign's links follow."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from herald.campaigns.links import CODE_LENGTH, SAMPLE_CODE
from tests.api.conftest import Api, Caller
from tests.api.support import serve
from tests.api.test_api_auth import error

DEFAULT_BASE = "http://127.0.0.1:8080"  # the API's configured address: CONFIG has no base_url
LINK = re.compile(r"(https?://[^ ]+)/([lo])/([A-Za-z0-9_-]+)")


@dataclass
class Shop:
    """The site a tracked link leads to: records each request's path and query."""

    url: str = ""
    visits: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        assert scope["type"] == "http"
        self.visits.append((scope["path"], scope["query_string"].decode()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"welcome to the sale"})


@contextlib.asynccontextmanager
async def shop() -> AsyncIterator[Shop]:
    site = Shop()
    async with serve(site) as url:
        site.url = url
        yield site


async def messages(caller: Caller, campaign_id: int, **params: Any) -> list[dict[str, Any]]:
    r = await caller.http.get(f"/campaigns/{campaign_id}/messages", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def links_in(text: str) -> dict[str, str]:
    """{'l': code, 'o': code} of a message's text."""
    found = {kind: code for base, kind, code in LINK.findall(text) if base == DEFAULT_BASE}
    assert all(len(code) == CODE_LENGTH for code in found.values()), text
    return found


async def create(caller: Caller, **fields: Any) -> dict[str, Any]:
    body = {"name": "Spring", "sender": "Herald", "respect_quiet_hours": False, **fields}
    r = await caller.http.post("/campaigns", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_click_follows_the_redirect_to_the_site_and_counts(api: Api) -> None:
    acme = await api.account()
    async with shop() as site:
        campaign = await create(
            acme,
            message="Hi %Name%, 20% off: %Link%",
            recipients=[
                {"phone": "+306948530920", "name": "Eleni"},
                {"phone": "+306948530921", "name": "Nikos"},
            ],
            track_link_url=f"{site.url}/spring?ref=sms",
            track_link_params={"utm_source": "sms", "utm_campaign": "spring"},
        )
        assert campaign["track_link_url"] == f"{site.url}/spring?ref=sms"
        assert campaign["batches"][0]["link_url"] == (
            f"{site.url}/spring?ref=sms&utm_source=sms&utm_campaign=spring"
        )
        first, second = await messages(acme, campaign["id"])
        codes = [links_in(m["text"])["l"] for m in (first, second)]
        assert codes[0] != codes[1]
        assert first["text"] == f"Hi Eleni, 20% off: {DEFAULT_BASE}/l/{codes[0]}"
        # The link's length is fixed, so the run's segments were known when it expanded.
        assert campaign["run"]["segments"] == 2 and first["part_count"] == 1

        async with httpx.AsyncClient(follow_redirects=True, timeout=10) as phone:
            answer = await phone.get(f"{api.url}/l/{codes[0]}", headers={"User-Agent": "Phone/1"})
            assert answer.status_code == 200 and answer.text == "welcome to the sale"
            assert [r.status_code for r in answer.history] == [302]
            assert answer.history[0].headers["cache-control"] == "no-store"
            await phone.get(f"{api.url}/l/{codes[0]}")
            head = await phone.head(f"{api.url}/l/{codes[1]}", follow_redirects=False)
            assert head.status_code == 302  # answered, not counted
        assert (
            site.visits
            == [
                ("/spring", "ref=sms&utm_source=sms&utm_campaign=spring"),
            ]
            * 2
        )

    first, second = await messages(acme, campaign["id"])
    assert (first["clicks"], second["clicks"], second["clicked_at"]) == (2, 0, None)
    assert datetime.fromisoformat(first["clicked_at"]) == api.clock.now
    progress = (await acme.http.get(f"/campaigns/{campaign['id']}")).json()["progress"]
    assert progress["clicks"] == {"clicks": 2, "unique": 1}
    assert api.metrics.link_clicks == 2
    async with api.db.acquire() as conn:
        agents = await conn.fetch("SELECT user_agent FROM link_events ORDER BY id")
    assert agents[0]["user_agent"] == "Phone/1"


async def test_a_campaigns_links_must_match_its_message(api: Api) -> None:
    acme = await api.account()
    to = ["+306948530920"]
    err = error(
        await acme.http.post(
            "/campaigns",
            json={"name": "No url", "sender": "Herald", "message": "See %Link%", "to": to},
        ),
        400,
        "link_not_configured",
    )
    assert err["details"] == {
        "field": "message",
        "placeholder": "%Link%",
        "setting": "track_link_url",
    }
    for url in ("ftp://files.example.com/x", "javascript:alert(1)", "not a url"):
        err = error(
            await acme.http.post(
                "/campaigns",
                json={
                    "name": "Bad url",
                    "sender": "Herald",
                    "message": "See %Link%",
                    "to": to,
                    "track_link_url": url,
                },
            ),
            422,
            "invalid_request",
        )
        assert err["details"][0]["location"] == "body.track_link_url"
    error(
        await acme.http.post(
            "/campaigns",
            json={
                "name": "Unplaced",
                "sender": "Herald",
                "message": "Hi",
                "to": to,
                "opt_out_link": True,
            },
        ),
        400,
        "opt_out_link_unplaced",
    )
    # Nothing of the refused requests was kept; a scheduled campaign is checked on edit too.
    assert (await acme.http.get("/campaigns")).json()["total"] == 0
    scheduled = await create(
        acme,
        name="Later",
        message="Hi %Name%",
        to=to,
        scheduled_at=(api.clock.now + timedelta(days=1)).isoformat(),
    )
    path = f"/campaigns/{scheduled['id']}"
    error(
        await acme.http.patch(path, json={"message": "Stop: %OptOutLink%"}),
        400,
        "link_not_configured",
    )
    r = await acme.http.patch(
        path,
        json={
            "message": "Sale %Link% stop %OptOutLink%",
            "opt_out_link": True,
            "track_link_url": "https://shop.example.com/x",
        },
    )
    assert r.status_code == 200, r.text
    assert (r.json()["opt_out_link"], r.json()["track_link_url"]) == (
        True,
        "https://shop.example.com/x",
    )
    error(await acme.http.patch(path, json={"track_link_url": None}), 400, "link_not_configured")
    error(await acme.http.patch(path, json={"opt_out_link": False}), 400, "link_not_configured")
    # A run's own message and URL: checked, and kept on its batch.
    error(
        await acme.http.post(f"{path}/run", json={"message": "No stop link here"}),
        400,
        "opt_out_link_unplaced",
    )
    r = await acme.http.post(
        f"{path}/run",
        json={
            "message": "Last call %Link% %OptOutLink%",
            "track_link_url": "https://shop.example.com/last",
        },
    )
    assert r.status_code == 200, r.text
    detail = (await acme.http.get(path)).json()
    assert [b["link_url"] for b in detail["batches"]] == ["https://shop.example.com/last"]
    assert detail["track_link_url"] == "https://shop.example.com/x"  # the campaign's is kept
    (message,) = await messages(acme, scheduled["id"])
    assert set(links_in(message["text"])) == {"l", "o"}


async def test_unknown_expired_and_malformed_links_answer_a_page(api: Api) -> None:
    acme = await api.account()
    campaign = await create(
        acme,
        message="Sale %Link%",
        to=["+306948530920"],
        track_link_url="https://shop.example.com/",
    )
    (message,) = await messages(acme, campaign["id"])
    code = links_in(message["text"])["l"]
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as phone:
        for path in ("/l/AAAAAAAAAAAA", "/l/short", "/l/" + "x" * 500, f"/o/{code}"):
            r = await phone.get(path)
            assert r.status_code == 404 and "No such link" in r.text, path
            assert r.headers["content-type"].startswith("text/html")
        assert (await phone.get(f"/l/{code}")).status_code == 302
        ttl = api.config.links.ttl_days
        async with api.db.acquire() as conn:  # the run ended longer ago than links live
            await conn.execute(
                "UPDATE batches SET finished_at = $1",
                api.clock.now - timedelta(days=ttl, seconds=1),
            )
        r = await phone.get(f"/l/{code}")
        assert r.status_code == 410 and "expired" in r.text
    (message,) = await messages(acme, campaign["id"])
    assert message["clicks"] == 1


async def test_the_opt_out_page_confirms_through_its_form_and_blacklists_once(api: Api) -> None:
    acme = await api.account(senders=("Herald", "Acme"))
    campaign = await create(
        acme,
        sender="Acme",
        message="News. Stop: %OptOutLink%",
        to=["+306948530920", "+306948530921"],
        opt_out_link=True,
    )
    first, _ = await messages(acme, campaign["id"])
    code = links_in(first["text"])["o"]
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as phone:
        page = await phone.get(f"/o/{code}")  # what a link preview does
        assert page.status_code == 200
        assert "Stop messages from Acme?" in page.text and "+3069•••••920" in page.text
        assert '<form method="post">' in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert (await acme.http.get("/blacklist")).json()["total"] == 0
        assert (await phone.head(f"/o/{code}")).status_code == 200

        form = re.search(r'name="(\w+)" value="(\w+)"', page.text)
        assert form is not None
        unconfirmed = await phone.post(f"/o/{code}", data={"something": "else"})
        assert unconfirmed.status_code == 400
        assert (await acme.http.get("/blacklist")).json()["total"] == 0
        done = await phone.post(f"/o/{code}", data={form[1]: form[2]})
        assert done.status_code == 200 and "no more messages from Acme" in done.text
        again = await phone.post(f"/o/{code}", data={form[1]: form[2]})
        assert again.status_code == 200 and "no more messages" in again.text
        shown = await phone.get(f"/o/{code}")
        assert "You will get no more messages" in shown.text and "<form" not in shown.text
        huge = await phone.post(f"/o/{code}", content=b"confirm=yes&" + b"x" * 5000)
        assert huge.status_code == 413
    listed = (await acme.http.get("/blacklist")).json()["items"]
    assert [(e["phone"], e["source"]) for e in listed] == [("+306948530920", "opt_out_link")]
    assert api.metrics.opt_outs == {"opt_out": 0, "opt_out_link": 1}
    report = (await acme.http.get(f"/campaigns/{campaign['id']}/report")).json()
    assert report["opt_outs"] == 1
    # The next run leaves the number out.
    await acme.http.post(f"/campaigns/{campaign['id']}/stop")
    r = await acme.http.post(f"/campaigns/{campaign['id']}/run", json={})
    assert r.json()["rejected_reasons"] == {"blacklisted": 1}


async def test_a_preview_shows_links_as_long_as_recipients_get_them(api: Api) -> None:
    acme = await api.account()
    r = await acme.http.post(
        "/campaigns/preview", json={"message": "Sale %Link% stop %OptOutLink%"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rendered"] == (
        f"Sale {DEFAULT_BASE}/l/{SAMPLE_CODE} stop {DEFAULT_BASE}/o/{SAMPLE_CODE}"
    )
