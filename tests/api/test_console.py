"""The console over real HTTP (the pages as a browser gets them, without one): sessions and
their cookie, CSRF, other accounts' objects, labels on every form control, and /docs without
the internet. The flows in a real browser are in tests/browser."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

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
from tests.api.conftest import CONFIG
from tests.api.support import Clock, serve


@dataclass
class Console:
    url: str
    db: Database
    clock: Clock
    config: Config

    async def account(self, name: str) -> NewAccount:
        async with self.db.acquire() as conn:
            account = await create_account(conn, name, 1000)
            await conn.execute(queries.create_sender, account.id, "Shop", "alphanumeric", 5, 0)
        return account

    @contextlib.asynccontextmanager
    async def signed_in(self, key: str) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            page = await client.get("/ui/sign-in")
            token = re.search(r'name="sign_in_token" value="([^"]+)"', page.text)
            assert token, page.text
            answer = await client.post(
                "/ui/sign-in", data={"api_key": key, "sign_in_token": token[1], "next": ""}
            )
            assert answer.status_code == 303, answer.text
            yield client


def _config(tmp_path: Path, **ui: object) -> Config:
    return CONFIG.model_copy(update={"state_dir": tmp_path, "ui": CONFIG.ui.model_copy(update=ui)})


@pytest.fixture
async def console(database: Database, tmp_path: Path) -> AsyncIterator[Console]:
    async with _serve_console(database, _config(tmp_path)) as console:
        yield console


@contextlib.asynccontextmanager
async def _serve_console(database: Database, config: Config) -> AsyncIterator[Console]:
    clock = Clock()
    runner = CampaignRunner(
        database,
        config,
        Router(config.routes, healthy=lambda _: True),
        clock=clock,
        metrics=Metrics(),
    )
    app = create_app(AppContext(db=database, config=config, clock=clock, runner=runner))
    async with serve(app) as url:
        yield Console(url, database, clock, config)


def csrf_of(html: str) -> str:
    found = re.search(r'data-csrf="([^"]+)"', html)
    assert found, html
    return found[1]


async def scheduled_campaign(client: httpx.AsyncClient, console: Console, key: str) -> int:
    async with httpx.AsyncClient(
        base_url=console.url + "/v1", headers={"Authorization": f"Bearer {key}"}
    ) as api:
        made = await api.post(
            "/campaigns",
            json={
                "sender": "Shop",
                "message": "Hi",
                "to": ["+306948530920"],
                "scheduled_at": "2099-01-01T00:00:00Z",
            },
        )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def test_the_session_cookie_is_signed_httponly_strict_and_carries_no_key(
    console: Console,
) -> None:
    account = await console.account("shop")
    async with console.signed_in(account.api_key) as client:
        cookie = next(c for c in client.cookies.jar if c.name == "herald_session")
        assert account.api_key not in str(cookie.value)
        page = await client.get("/ui/campaigns")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
    again = httpx.AsyncClient(base_url=console.url)
    async with again:
        page = await again.get("/ui/sign-in")
        token = re.search(r'name="sign_in_token" value="([^"]+)"', page.text)
        assert token
        answer = await again.post(
            "/ui/sign-in", data={"api_key": account.api_key, "sign_in_token": token[1]}
        )
        set_cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
        assert "Path=/ui" in set_cookie and "Max-Age=43200" in set_cookie


async def test_a_forged_an_expired_or_a_revoked_session_signs_in_again(
    console: Console,
) -> None:
    account = await console.account("shop")
    async with console.signed_in(account.api_key) as client:
        value = client.cookies["herald_session"]
        body, mac = value.split(".")
        client.cookies.set("herald_session", body + "." + mac[::-1], path="/ui")
        page = await client.get("/ui/campaigns")
        assert page.status_code == 303 and "/ui/sign-in" in page.headers["location"]

        client.cookies.set("herald_session", value, path="/ui")
        assert (await client.get("/ui/campaigns")).status_code == 200
        console.clock.advance(12 * 3600 + 1)  # [ui] session_hours
        page = await client.get("/ui/campaigns")
        assert page.headers["location"].endswith("why=expired")

    async with console.signed_in(account.api_key) as client:
        assert (await client.get("/ui/contacts")).status_code == 200
        async with console.db.acquire() as conn:
            await conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE account_id = $1", account.id
            )
        page = await client.get("/ui/contacts")
        assert page.status_code == 303 and page.headers["location"].endswith("why=key")
        json = await client.get("/ui/operations.json")
        assert json.status_code == 303 or json.status_code == 401


async def test_a_post_without_the_forms_token_changes_nothing(console: Console) -> None:
    account = await console.account("shop")
    async with console.signed_in(account.api_key) as client:
        campaign = await scheduled_campaign(client, console, account.api_key)
        refused = await client.post(f"/ui/campaigns/{campaign}/stop", data={"csrf": "forged"})
        assert refused.status_code == 403
        assert "Form expired" in refused.text
        page = await client.get(f"/ui/campaigns/{campaign}")
        assert 'data-status="scheduled"' in page.text
        done = await client.post(
            f"/ui/campaigns/{campaign}/stop", data={"csrf": csrf_of(page.text)}
        )
        assert done.status_code == 303
        assert 'data-status="stopped"' in (await client.get(f"/ui/campaigns/{campaign}")).text
        # The sign-in form has its own token (there is no session yet to derive one from).
        signed_out = httpx.AsyncClient(base_url=console.url)
        async with signed_out:
            bare = await signed_out.post("/ui/sign-in", data={"api_key": account.api_key})
            assert bare.status_code == 403 and "herald_session" not in bare.cookies


async def test_another_accounts_objects_are_not_found(console: Console) -> None:
    shop = await console.account("shop")
    rival = await console.account("rival")
    async with console.signed_in(rival.api_key) as theirs:
        campaign = await scheduled_campaign(theirs, console, rival.api_key)
    async with console.signed_in(shop.api_key) as client:
        token = csrf_of((await client.get("/ui/campaigns")).text)
        assert (await client.get(f"/ui/campaigns/{campaign}")).status_code == 404
        assert (await client.get(f"/ui/campaigns/{campaign}/export.csv")).status_code == 404
        assert (await client.get(f"/ui/campaigns/{campaign}/progress.json")).status_code == 404
        stop = await client.post(f"/ui/campaigns/{campaign}/stop", data={"csrf": token})
        assert stop.status_code == 404
        delete = await client.post(f"/ui/campaigns/{campaign}/delete", data={"csrf": token})
        assert delete.status_code in (303, 404)
        listing = await client.get("/ui/campaigns")
        assert f'data-campaign="{campaign}"' not in listing.text
    async with console.signed_in(rival.api_key) as theirs:
        assert (await theirs.get(f"/ui/campaigns/{campaign}")).status_code == 200


async def test_signing_in_goes_back_to_a_console_page_only(console: Console) -> None:
    account = await console.account("shop")
    async with httpx.AsyncClient(base_url=console.url) as client:
        for target, landing in (
            ("/ui/contacts?page=2", "/ui/contacts?page=2"),
            ("https://evil.example/ui/x", "/ui/campaigns"),
            ("//evil.example/ui/x", "/ui/campaigns"),
            ("/v1/account", "/ui/campaigns"),
        ):
            page = await client.get("/ui/sign-in")
            token = re.search(r'name="sign_in_token" value="([^"]+)"', page.text)
            assert token
            answer = await client.post(
                "/ui/sign-in",
                data={"api_key": account.api_key, "sign_in_token": token[1], "next": target},
            )
            assert answer.headers["location"] == landing


class _Controls(HTMLParser):
    """Form controls of a page, and what labels them."""

    def __init__(self) -> None:
        super().__init__()
        self.labelled: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.inside_label = 0
        self.buttons: list[dict[str, str | None]] = []
        self._button: dict[str, str | None] | None = None
        self._button_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.inside_label += 1
            if a.get("for"):
                self.labelled.add(str(a["for"]))
        elif tag in ("input", "select", "textarea"):
            if a.get("type") in ("hidden", "submit", "button"):
                return
            self.controls.append({**a, "tag": tag, "wrapped": "yes" if self.inside_label else None})
        elif tag == "button":
            self._button, self._button_text = a, ""

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.inside_label -= 1
        elif tag == "button" and self._button is not None:
            self.buttons.append({**self._button, "text": self._button_text.strip()})
            self._button = None


def unlabelled(html: str) -> list[str]:
    parser = _Controls()
    parser.feed(html)
    bad = [
        f"{c['tag']} name={c.get('name')!r} id={c.get('id')!r}"
        for c in parser.controls
        if not c.get("wrapped") and not c.get("aria-label") and c.get("id") not in parser.labelled
    ]
    bad += [f"button {b}" for b in parser.buttons if not b["text"] and not b.get("aria-label")]
    return bad


async def test_every_form_control_of_every_page_has_a_label(console: Console) -> None:
    account = await console.account("shop")
    async with console.signed_in(account.api_key) as client:
        campaign = await scheduled_campaign(client, console, account.api_key)
        token = csrf_of((await client.get("/ui/contacts")).text)
        await client.post("/ui/contacts", data={"csrf": token, "phone": "+306948530921"})
        await client.post("/ui/groups", data={"csrf": token, "name": "Friends"})
        await client.post("/ui/blacklist", data={"csrf": token, "phones": "+306948530999"})
        pages = [
            "/ui/campaigns",
            "/ui/campaigns/new",
            f"/ui/campaigns/{campaign}",
            "/ui/contacts",
            "/ui/groups",
            "/ui/blacklist?phone=%2B306948530999",
            "/ui/senders",
            "/ui/operations",
        ]
        for path in pages:
            page = await client.get(path)
            assert page.status_code == 200, path
            assert unlabelled(page.text) == [], path
            assert 'class="skip" href="#main"' in page.text, path
    async with httpx.AsyncClient(base_url=console.url) as signed_out:
        assert unlabelled((await signed_out.get("/ui/sign-in")).text) == []


def test_the_label_check_finds_a_control_without_one() -> None:
    assert unlabelled('<label for="a">A</label><input id="a"><label>B <input></label>') == []
    assert unlabelled('<input id="b" name="b"><button></button>') == [
        "input name='b' id='b'",
        "button {'text': ''}",
    ]


URL_ATTRIBUTE = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""")


async def test_docs_load_nothing_from_the_internet(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.url) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        urls = URL_ATTRIBUTE.findall(docs.text)
        assert urls, docs.text
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            assert (await client.get(url)).status_code == 200, url
        assert "validatorUrl" in docs.text  # no badge from the public validator
        bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.headers["content-type"].startswith(
            ("application/javascript", "text/javascript")
        )
        assert (await client.get("/redoc")).status_code == 404  # it loaded from a CDN


async def test_console_pages_load_only_from_this_server(console: Console) -> None:
    account = await console.account("shop")
    async with console.signed_in(account.api_key) as client:
        for path in ("/ui/campaigns", "/ui/campaigns/new", "/ui/operations"):
            page = await client.get(path)
            for url in URL_ATTRIBUTE.findall(page.text):
                assert url.startswith(("/", "#", "?")) and not url.startswith("//"), (path, url)


async def test_the_console_can_be_turned_off(database: Database, tmp_path: Path) -> None:
    config = _config(tmp_path, enabled=False)
    app = create_app(AppContext(db=database, config=config, clock=Clock(), runner=None))  # type: ignore[arg-type]
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/ui/campaigns")).status_code == 404
        assert (await client.get("/docs")).status_code == 200
    assert not (tmp_path / "ui-session.key").exists()


def _message_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r"<summary>#(\d+)</summary>", html)]


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return None if found is None else found[1].replace("&amp;", "&")


async def test_a_campaigns_messages_page_by_id_forward_and_back(
    database: Database, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    config = config.model_copy(
        update={"api": config.api.model_copy(update={"max_recipients_per_request": 200})}
    )
    async with _serve_console(database, config) as console:
        await _page_through(console)


async def _page_through(console: Console) -> None:
    account = await console.account("pager")
    async with httpx.AsyncClient(
        base_url=console.url + "/v1", headers={"Authorization": f"Bearer {account.api_key}"}
    ) as api:
        made = await api.post(
            "/campaigns",
            json={
                "sender": "Shop",
                "message": "Hi",
                "to": [f"+3069485{i:05d}" for i in range(120)],
            },
        )
    assert made.status_code == 201, made.text
    campaign = made.json()["id"]
    async with console.signed_in(account.api_key) as client:
        first = (await client.get(f"/ui/campaigns/{campaign}")).text
        assert "50 of 120" in first and _link(first, "prev") is None
        pages = [_message_ids(first)]
        html = first
        while (after := _link(html, "next")) is not None:
            assert "page=" not in after  # no OFFSET walk
            html = (await client.get(after)).text
            pages.append(_message_ids(html))
        assert [len(p) for p in pages] == [50, 50, 20]
        every = [i for p in pages for i in p]
        assert every == sorted(every) and len(set(every)) == 120
        back = _link(html, "prev")
        assert back is not None
        assert _message_ids((await client.get(back)).text) == pages[1]
        back = _link((await client.get(back)).text, "prev")
        assert back is not None
        assert _message_ids((await client.get(back)).text) == pages[0]
