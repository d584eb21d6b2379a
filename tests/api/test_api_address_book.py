"""Senders, contacts (with bulk import), groups and their members, the blacklist."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_api_auth import error


async def test_senders_follow_the_sender_rules(api: Api) -> None:
    acme = await api.account(senders=())
    assert (await acme.http.get("/senders")).json() == []
    r = await acme.http.post("/senders", json={"address": "Acme Shop"})
    assert r.status_code == 201
    assert {k: r.json()[k] for k in ("address", "kind", "ton", "npi")} == {
        "address": "Acme Shop",
        "kind": "alphanumeric",
        "ton": 5,
        "npi": 0,
    }
    short = (await acme.http.post("/senders", json={"address": "12345"})).json()
    assert (short["kind"], short["ton"], short["npi"]) == ("short_code", 3, 0)
    numeric = (await acme.http.post("/senders", json={"address": "+306948530920"})).json()
    assert (numeric["address"], numeric["kind"], numeric["ton"]) == ("306948530920", "numeric", 1)
    err = error(
        await acme.http.post("/senders", json={"address": "Way too long sender"}),
        400,
        "invalid_sender",
    )
    assert "too long" in err["message"] and "at most 11" in err["message"]
    err = error(await acme.http.post("/senders", json={"address": "a@b"}), 400, "invalid_sender")
    assert "'@'" in err["message"]
    error(await acme.http.post("/senders", json={"address": "Acme Shop"}), 409, "sender_conflict")
    listed = [s["address"] for s in (await acme.http.get("/senders")).json()]
    assert listed == ["Acme Shop", "12345", "306948530920"]


async def test_contacts_crud(api: Api) -> None:
    acme = await api.account()
    r = await acme.http.post(
        "/contacts",
        json={"phone": "0030 694 853 0920", "name": "Eleni", "labels": {"code": "A1", "n": 7}},
    )
    assert r.status_code == 201
    eleni = r.json()
    assert (eleni["phone"], eleni["labels"]) == ("+306948530920", {"code": "A1", "n": "7"})
    err = error(
        await acme.http.post("/contacts", json={"phone": "+306948530920"}), 409, "phone_conflict"
    )
    assert err["details"] == {"phone": "+306948530920"}
    err = error(await acme.http.post("/contacts", json={"phone": "12"}), 400, "invalid_numbers")
    assert err["details"]["invalid_numbers"][0]["reason"] == "invalid_format"
    other = (
        await acme.http.post("/contacts", json={"phone": "+447400123456", "name": "Tom"})
    ).json()

    assert (await acme.http.get(f"/contacts/{eleni['id']}")).json() == eleni
    page = (await acme.http.get("/contacts", params={"page_size": 1})).json()
    assert (page["total"], page["pages"], len(page["items"])) == (2, 2, 1)
    page2 = (await acme.http.get("/contacts", params={"page_size": 1, "page": 2})).json()
    assert page2["items"][0]["id"] == other["id"]
    found = (await acme.http.get("/contacts", params={"phone_prefix": "44"})).json()
    assert [c["name"] for c in found["items"]] == ["Tom"]
    found = (await acme.http.get("/contacts", params={"name_contains": "LEN"})).json()
    assert [c["name"] for c in found["items"]] == ["Eleni"]

    r = await acme.http.patch(
        f"/contacts/{eleni['id']}", json={"name": None, "labels": {"code": "B2"}}
    )
    assert (r.json()["name"], r.json()["labels"], r.json()["phone"]) == (
        None,
        {"code": "B2"},
        "+306948530920",
    )
    error(
        await acme.http.patch(f"/contacts/{eleni['id']}", json={"phone": "+447400123456"}),
        409,
        "phone_conflict",
    )
    error(
        await acme.http.patch(f"/contacts/{eleni['id']}", json={"phone": "nope"}),
        400,
        "invalid_numbers",
    )
    error(
        await acme.http.patch(f"/contacts/{eleni['id']}", json={"phone": None}),
        422,
        "invalid_request",
    )
    assert (await acme.http.delete(f"/contacts/{eleni['id']}")).status_code == 204
    error(await acme.http.get(f"/contacts/{eleni['id']}"), 404, "contact_not_found")
    error(await acme.http.delete(f"/contacts/{eleni['id']}"), 404, "contact_not_found")


async def test_bulk_import_reports_bad_rows_and_keeps_the_good(api: Api) -> None:
    acme = await api.account()
    group = (await acme.http.post("/groups", json={"name": "Imported"})).json()
    await acme.http.post("/contacts", json={"phone": "+306948530920", "name": "Old"})
    r = await acme.http.post(
        "/contacts/import",
        json={
            "group_id": group["id"],
            "contacts": [
                {"phone": "+306948530920", "name": "Eleni"},  # updates the existing one
                {"phone": "not a phone"},
                {"phone": "+306948530921", "labels": {"code": "X"}},
                {"phone": "+999 123"},
                {"phone": "+30 694 853 0921", "name": "Again"},  # same number: the last row wins
            ],
        },
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"], result["duplicates"]) == (1, 1, 1)
    assert [(e["index"], e["reason"]) for e in result["errors"]] == [
        (1, "invalid_format"),
        (3, "invalid_number"),
    ]
    members = (await acme.http.get(f"/groups/{group['id']}/contacts")).json()
    assert {(c["phone"], c["name"]) for c in members["items"]} == {
        ("+306948530920", "Eleni"),
        ("+306948530921", "Again"),
    }
    too_many = [
        {"phone": f"+30694{n:07d}"} for n in range(api.config.api.max_recipients_per_request + 1)
    ]
    error(
        await acme.http.post("/contacts/import", json={"contacts": too_many}),
        400,
        "too_many_recipients",
    )
    error(
        await acme.http.post(
            "/contacts/import", json={"contacts": [{"phone": "+306948530920"}], "group_id": 999}
        ),
        404,
        "group_not_found",
    )


async def test_groups_and_membership(api: Api) -> None:
    acme = await api.account()
    ids = [
        (await acme.http.post("/contacts", json={"phone": f"+30694853092{i}"})).json()["id"]
        for i in range(3)
    ]
    r = await acme.http.post("/groups", json={"name": "VIP"})
    assert r.status_code == 201 and r.json()["member_count"] == 0
    vip = r.json()
    error(await acme.http.post("/groups", json={"name": "VIP"}), 409, "name_conflict")
    r = await acme.http.post(f"/groups/{vip['id']}/contacts", json={"contact_ids": ids[:2]})
    assert r.json()["member_count"] == 2
    err = error(
        await acme.http.post(
            f"/groups/{vip['id']}/contacts", json={"contact_ids": [ids[2], 12345]}
        ),
        404,
        "contact_not_found",
    )
    assert err["details"]["contact_ids"] == [12345]
    assert (await acme.http.get(f"/groups/{vip['id']}")).json()["member_count"] == 2
    assert (await acme.http.delete(f"/groups/{vip['id']}/contacts/{ids[0]}")).status_code == 204
    error(
        await acme.http.delete(f"/groups/{vip['id']}/contacts/{ids[0]}"), 404, "contact_not_found"
    )
    members = (await acme.http.get(f"/groups/{vip['id']}/contacts")).json()
    assert [c["id"] for c in members["items"]] == [ids[1]]
    other = (await acme.http.post("/groups", json={"name": "Other"})).json()
    error(
        await acme.http.patch(f"/groups/{other['id']}", json={"name": "VIP"}), 409, "name_conflict"
    )
    renamed = (await acme.http.patch(f"/groups/{vip['id']}", json={"name": "Gold"})).json()
    assert (renamed["name"], renamed["member_count"]) == ("Gold", 1)
    listed = (await acme.http.get("/groups")).json()
    assert [g["name"] for g in listed["items"]] == ["Gold", "Other"] and listed["total"] == 2
    assert (await acme.http.delete(f"/groups/{vip['id']}")).status_code == 204
    error(await acme.http.get(f"/groups/{vip['id']}"), 404, "group_not_found")
    assert (await acme.http.get(f"/contacts/{ids[1]}")).status_code == 200  # contacts stay


async def test_blacklist(api: Api) -> None:
    acme = await api.account()
    r = await acme.http.post("/blacklist", json={"phones": ["306948530920", "+447400123456"]})
    assert r.status_code == 201 and r.json() == {"added": ["+306948530920", "+447400123456"]}
    err = error(
        await acme.http.post("/blacklist", json={"phones": ["+306948530921", "abc"]}),
        400,
        "invalid_numbers",
    )
    assert err["details"]["invalid_numbers"] == [
        {"source": "phones", "index": 1, "phone": "abc", "reason": "invalid_format"}
    ]
    listed = (await acme.http.get("/blacklist")).json()
    assert [(e["phone"], e["source"]) for e in listed["items"]] == [
        ("+306948530920", "api"),
        ("+447400123456", "api"),
    ]
    assert (await acme.http.delete("/blacklist/%2B447400123456")).status_code == 204
    assert (await acme.http.delete("/blacklist/306948530920")).status_code == 204
    error(await acme.http.delete("/blacklist/306948530920"), 404, "number_not_blacklisted")
    error(await acme.http.delete("/blacklist/abc"), 400, "invalid_numbers")
    assert (await acme.http.get("/blacklist")).json()["total"] == 0
