"""Bearer keys, the one error body for every error, and accounts never seeing each other."""

from __future__ import annotations

import httpx

from herald.store.db import Database
from tests.api.conftest import Api


def error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


async def test_every_v1_request_needs_a_valid_key(api: Api) -> None:
    acme = await api.account()
    async with (
        api.client() as anonymous,
        api.client("hk_" + "x" * 43) as forged,
        api.client("not-even-a-key") as garbage,
    ):
        for client in (anonymous, forged, garbage):
            for method, path in (
                ("GET", "/campaigns"),
                ("POST", "/senders"),
                ("GET", "/balance"),
                ("DELETE", "/contacts/1"),
            ):
                r = await client.request(method, path, json={"address": "X"})
                err = error(r, 401, "unauthorized")
                assert r.headers["www-authenticate"] == "Bearer"
                assert "key" in err["message"].lower() or "authorization" in err["message"]
    r = await acme.http.get("/account")
    assert r.status_code == 200
    assert r.json()["name"] == "acme" and acme.account.api_key.startswith(
        r.json()["api_key_prefix"]
    )


async def test_framework_errors_have_the_same_body(api: Api) -> None:
    acme = await api.account()
    error(await acme.http.get("/no-such-thing"), 404, "not_found")
    r = await acme.http.put("/campaigns")
    error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    err = error(
        await acme.http.post(
            "/campaigns", content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
        "malformed_body",
    )
    assert err["details"] == {"position": 1} and "not valid JSON" in err["message"]
    err = error(
        await acme.http.post("/campaigns", json={"name": "a", "sender": 5}), 422, "invalid_request"
    )
    locations = {d["location"] for d in err["details"]}
    assert {"body.name", "body.sender", "body.message"} <= locations
    err = error(await acme.http.get("/campaigns/0"), 422, "invalid_request")
    assert err["details"][0]["location"] == "path.campaign_id"
    err = error(
        await acme.http.get("/campaigns", params={"sort": "password"}), 422, "invalid_request"
    )
    assert err["details"][0]["location"] == "query.sort"
    err = error(
        await acme.http.post("/contacts", json={"phone": "+306948530920\x00"}),
        422,
        "invalid_request",
    )
    assert "NUL" in err["message"]


async def test_one_account_never_sees_another_accounts_objects(api: Api) -> None:
    acme = await api.account("acme")
    rival = await api.account("rival", senders=("Rival",))
    contact = (await acme.http.post("/contacts", json={"phone": "+306948530920"})).json()
    group = (await acme.http.post("/groups", json={"name": "VIP"})).json()
    await acme.http.post("/blacklist", json={"phones": ["+306948530999"]})
    campaign = (
        await acme.http.post(
            "/campaigns",
            json={
                "name": "Secret",
                "sender": "Herald",
                "message": "Hi",
                "to": ["+306948530920"],
                "scheduled_at": "2099-01-01T00:00:00Z",
            },
        )
    ).json()

    assert (await rival.http.get("/contacts")).json()["total"] == 0
    assert (await rival.http.get("/groups")).json()["total"] == 0
    assert (await rival.http.get("/blacklist")).json()["total"] == 0
    assert (await rival.http.get("/campaigns")).json()["total"] == 0
    assert [s["address"] for s in (await rival.http.get("/senders")).json()] == ["Rival"]

    c, g, k = contact["id"], group["id"], campaign["id"]
    for method, path, body, code in [
        ("GET", f"/contacts/{c}", None, "contact_not_found"),
        ("PATCH", f"/contacts/{c}", {"name": "x"}, "contact_not_found"),
        ("DELETE", f"/contacts/{c}", None, "contact_not_found"),
        ("GET", f"/groups/{g}", None, "group_not_found"),
        ("PATCH", f"/groups/{g}", {"name": "Mine"}, "group_not_found"),
        ("DELETE", f"/groups/{g}", None, "group_not_found"),
        ("GET", f"/groups/{g}/contacts", None, "group_not_found"),
        ("POST", f"/groups/{g}/contacts", {"contact_ids": [c]}, "group_not_found"),
        ("DELETE", f"/groups/{g}/contacts/{c}", None, "group_not_found"),
        ("GET", f"/contacts?group_id={g}", None, "group_not_found"),
        ("DELETE", "/blacklist/+306948530999", None, "number_not_blacklisted"),
        ("GET", f"/campaigns/{k}", None, "campaign_not_found"),
        ("PATCH", f"/campaigns/{k}", {"message": "x"}, "campaign_not_found"),
        ("DELETE", f"/campaigns/{k}", None, "campaign_not_found"),
        ("GET", f"/campaigns/{k}/messages", None, "campaign_not_found"),
        ("POST", f"/campaigns/{k}/run", None, "campaign_not_found"),
        ("POST", f"/campaigns/{k}/suspend", None, "campaign_not_found"),
        ("POST", f"/campaigns/{k}/resume", None, "campaign_not_found"),
        ("POST", f"/campaigns/{k}/stop", None, "campaign_not_found"),
    ]:
        r = await rival.http.request(method, path, json=body)
        error(r, 404, code)

    # Nor can another account's contacts, groups or senders be used in a campaign.
    base = {"name": "Steal", "message": "Hi", "scheduled_at": "2099-01-01T00:00:00Z"}
    error(
        await rival.http.post(
            "/campaigns", json={**base, "sender": "Herald", "to": ["+306948530920"]}
        ),
        400,
        "sender_not_allowed",
    )
    err = error(
        await rival.http.post("/campaigns", json={**base, "sender": "Rival", "contacts": [c]}),
        404,
        "contact_not_found",
    )
    assert err["details"] == {"contact_ids": [c]}
    error(
        await rival.http.post("/campaigns", json={**base, "sender": "Rival", "groups": [g]}),
        404,
        "group_not_found",
    )
    rival_group = (await rival.http.post("/groups", json={"name": "Mine"})).json()
    error(
        await rival.http.post(f"/groups/{rival_group['id']}/contacts", json={"contact_ids": [c]}),
        404,
        "contact_not_found",
    )
    # ...and everything is still there for its owner.
    assert (await acme.http.get(f"/campaigns/{k}")).status_code == 200
    assert (await acme.http.get(f"/contacts/{c}")).status_code == 200


def test_the_api_reference_documents_every_error_code() -> None:
    from pathlib import Path

    from herald.api.errors import CODES

    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    table = doc[doc.index("## Errors") : doc.index("## Callbacks")]
    for code, spec in CODES.items():
        row = next((line for line in table.splitlines() if f"`{code}`" in line), None)
        assert row is not None, f"docs/api.md error table lacks {code}"
        assert f"| {spec.status} |" in row, f"docs/api.md gives {code} another status"


async def test_an_unexpected_failure_is_a_500_with_the_same_body(database: Database) -> None:
    from herald.api.app import create_app
    from herald.api.context import AppContext
    from herald.store.accounts import create_account
    from herald.store.queries import queries
    from tests.api.conftest import CONFIG
    from tests.api.support import Clock, serve

    class BrokenRunner:
        async def start_run(self, **_: object) -> None:
            raise RuntimeError("the runner broke")

    async with database.acquire() as conn:
        account = await create_account(conn, "acme", 100)
        await conn.execute(queries.create_sender, account.id, "Herald", "alphanumeric", 5, 0)
    app = create_app(AppContext(db=database, config=CONFIG, clock=Clock(), runner=BrokenRunner()))  # type: ignore[arg-type]
    async with serve(app) as url:
        import httpx

        async with httpx.AsyncClient(
            base_url=url + "/v1", headers={"Authorization": f"Bearer {account.api_key}"}
        ) as http:
            r = await http.post(
                "/campaigns",
                json={
                    "name": "Doomed",
                    "sender": "Herald",
                    "message": "Hi",
                    "to": ["+306948530920"],
                },
            )
            err = error(r, 500, "internal_error")
            assert "the runner broke" not in err["message"]  # no internals in the answer
            # The campaign created for the run is gone again.
            assert (await http.get("/campaigns")).json()["total"] == 0


async def test_openapi_and_docs_are_served_without_a_key(api: Api) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=api.url) as http:
        spec = (await http.get("/openapi.json")).json()
        assert (await http.get("/docs")).status_code == 200
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    create = spec["paths"]["/v1/campaigns"]["post"]
    assert create["security"] == [{"ApiKey": []}]
    assert {"201", "400", "401", "402", "404", "409", "422"} <= set(create["responses"])
    assert spec["components"]["schemas"]["CampaignIn"]["examples"]
    for path in spec["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (status, operation["operationId"])
