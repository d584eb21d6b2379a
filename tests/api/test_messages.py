"""Messages one by one over HTTP (issue 21, items 1 and 3): send to one number or many, the
same refusals as campaigns, the answer per number, reading by id, by client reference and page
by page, and client references through campaigns and callbacks."""

from __future__ import annotations

import csv
import io
from typing import Any

from herald.store.queries import queries
from tests.api.conftest import Api, Caller
from tests.api.test_api_auth import error

NUMBERS = ["+306948530920", "+306948530921", "+306948530922"]


async def send(caller: Caller, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    body = {"to": NUMBERS[0], "sender": "Herald", "text": "Your code is 4521", **fields}
    return await caller.http.post("/messages", json=body, headers=headers)


async def test_one_number_one_message_answered_202_with_its_id_and_cost(api: Api) -> None:
    acme = await api.account(credit=10)
    r = await send(acme, client_ref="order-1", text="Καλημέρα, ο κωδικός σας είναι 4521")
    assert r.status_code == 202, r.text
    sent = r.json()
    (message,) = sent["messages"]
    assert message["to"] == NUMBERS[0] and message["phone"] == NUMBERS[0]
    assert (message["status"], message["reason"]) == ("queued", None)
    assert (message["encoding"], message["segments"]) == ("ucs2", 1)
    assert (sent["count"], sent["rejected"], sent["segments"], sent["credit_used"]) == (1, 0, 1, 1)
    assert sent["client_ref"] == "order-1"
    assert api.wakes  # sent now: the dispatcher was woken
    assert (await acme.http.get("/balance")).json()["credit"] == 9

    shown = (await acme.http.get(f"/messages/{message['id']}")).json()
    assert shown["client_ref"] == "order-1" and shown["sender"] == "Herald"
    assert shown["campaign_id"] is None and shown["batch_id"] is None  # no campaign of yours
    assert shown["text"] == "Καλημέρα, ο κωδικός σας είναι 4521"
    assert [p["state"] for p in shown["parts"]] == ["pending"]
    # The request is no campaign to the campaign API.
    assert (await acme.http.get("/campaigns")).json()["total"] == 0
    async with api.db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT c.id, c.kind, c.traffic_class, c.respect_quiet_hours FROM campaigns c"
        )
    assert (row["kind"], row["traffic_class"], row["respect_quiet_hours"]) == (
        "message",
        "transactional",
        False,
    )
    error(await acme.http.get(f"/campaigns/{row['id']}"), 404, "campaign_not_found")
    error(await acme.http.post(f"/campaigns/{row['id']}/stop"), 404, "campaign_not_found")
    other = await api.account("other")
    error(await other.http.get(f"/messages/{message['id']}"), 404, "message_not_found")


async def test_many_numbers_a_message_per_number_given_in_order(api: Api) -> None:
    acme = await api.account(credit=100)
    await acme.http.post("/blacklist", json={"phones": [NUMBERS[2]]})
    to = [NUMBERS[0], "12", "0030 694 853 0920", NUMBERS[1], NUMBERS[2]]
    r = await send(
        acme, to=to, text="Hi %Name%, code [~the code]", values={"name": "Eleni", "the code": "A1"}
    )
    assert r.status_code == 202, r.text
    sent = r.json()
    by = [(m["to"], m["status"], m["reason"], m["segments"]) for m in sent["messages"]]
    assert by == [
        (NUMBERS[0], "queued", None, 1),
        ("12", "rejected", "invalid_format", 0),
        ("0030 694 853 0920", "queued", None, 1),  # the same number as the first
        (NUMBERS[1], "queued", None, 1),
        (NUMBERS[2], "rejected", "blacklisted", 0),
    ]
    ids = [m["id"] for m in sent["messages"]]
    assert ids[0] == ids[2] and len(set(ids)) == 4
    assert (sent["count"], sent["rejected"], sent["credit_used"]) == (2, 2, 2)
    text = (await acme.http.get(f"/messages/{ids[0]}")).json()["text"]
    assert text == "Hi Eleni, code A1"


async def test_a_blacklisted_number_is_found_however_it_is_written(api: Api) -> None:
    # The request's numbers are looked up in the blacklist one by one, as E.164.
    acme = await api.account(credit=100)
    await acme.http.post("/blacklist", json={"phones": [NUMBERS[1]]})
    r = await send(acme, to=[NUMBERS[0], "0030 694 853 0921", "306948530921"])
    assert r.status_code == 202, r.text
    by = [(m["to"], m["status"], m["reason"]) for m in r.json()["messages"]]
    assert by == [
        (NUMBERS[0], "queued", None),
        ("0030 694 853 0921", "rejected", "blacklisted"),
        ("306948530921", "rejected", "blacklisted"),
    ]
    assert r.json()["credit_used"] == 1


async def test_refusals_name_what_is_wrong_and_leave_nothing(api: Api) -> None:
    acme = await api.account(credit=1)
    error(await send(acme, sender="Nope"), 400, "sender_not_allowed")
    err = error(await send(acme, text="Hi %Name%"), 400, "missing_label")
    assert err["details"]["label"] == "Name"
    error(await send(acme, text="Code [~code"), 400, "malformed_template")
    err = error(await send(acme, to=["12", "+1"]), 400, "invalid_numbers")
    assert [b["phone"] for b in err["details"]["invalid_numbers"]] == ["12", "+1"]
    err = error(await send(acme, validity=60 * 49), 400, "invalid_validity")
    assert err["details"]["max"] == 48 * 60
    error(await send(acme, to=[]), 422, "invalid_request")
    error(await send(acme, to=[NUMBERS[0]] * 1001), 422, "invalid_request")
    error(await send(acme, client_ref="x" * 65), 422, "invalid_request")
    error(await send(acme, callback="http://127.0.0.2/hook"), 422, "invalid_request")
    await acme.http.post("/blacklist", json={"phones": [NUMBERS[0]]})
    err = error(await send(acme), 400, "no_recipients")
    assert err["details"]["blacklisted"] == [NUMBERS[0]]
    err = error(await send(acme, to=NUMBERS[1], text="x" * 161), 402, "insufficient_balance")
    assert err["details"] == {"needed": 2, "available": 1}
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM campaigns") == 0
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0
    assert (await acme.http.get("/balance")).json()["credit"] == 1


async def test_validity_and_quiet_hours_are_the_requests_own(api: Api) -> None:
    acme = await api.account()
    r = await send(
        acme,
        validity=90,
        respect_quiet_hours=True,
        quiet_hours=[{"from": "00:00", "to": "23:59"}],
        flash=True,
    )
    assert r.status_code == 202, r.text
    (message,) = r.json()["messages"]
    assert (message["status"], message["reason"]) == ("deferred", "quiet_hours")
    async with api.db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT validity_minutes, flash, quiet_hours FROM campaigns WHERE kind = 'message'"
        )
        context = await conn.fetchrow(
            queries.dispatch_context + "", [await conn.fetchval("SELECT id FROM campaigns")]
        )
    assert (row["validity_minutes"], row["flash"]) == (90, True)
    assert context["validity_minutes"] == 90


async def test_listing_across_the_account_by_reference_phone_and_status(api: Api) -> None:
    acme = await api.account(credit=100)
    first = (await send(acme, to=NUMBERS[:2], client_ref="a")).json()
    second = (await send(acme, to=[NUMBERS[2], "12"], client_ref="b")).json()
    campaign = await acme.http.post(
        "/campaigns",
        json={
            "name": "Refs",
            "sender": "Herald",
            "message": "Hi",
            "recipients": [
                {"phone": NUMBERS[0], "client_ref": "c-0"},
                {"phone": NUMBERS[1]},
            ],
        },
    )
    assert campaign.status_code == 201, campaign.text
    messages = (await acme.http.get(f"/campaigns/{campaign.json()['id']}/messages")).json()
    assert [m["client_ref"] for m in messages["items"]] == ["c-0", None]

    everything = (await acme.http.get("/messages")).json()
    assert everything["next_cursor"] is None
    newest_first = [m["id"] for m in everything["items"]]
    assert len(newest_first) == 6 and newest_first[:2] == sorted(
        (m["id"] for m in messages["items"]), reverse=True
    )
    campaign_one = everything["items"][0]
    assert campaign_one["campaign_id"] == campaign.json()["id"] and campaign_one["batch_id"]

    page = await acme.http.get("/messages", params={"limit": 4})
    rest = await acme.http.get(
        "/messages", params={"limit": 4, "cursor": page.json()["next_cursor"]}
    )
    assert [m["id"] for m in page.json()["items"] + rest.json()["items"]] == newest_first
    assert rest.json()["next_cursor"] is None

    by_ref = (await acme.http.get("/messages", params={"client_ref": "a"})).json()["items"]
    assert sorted(m["id"] for m in by_ref) == sorted(m["id"] for m in first["messages"])
    by_ref = (await acme.http.get("/messages", params={"client_ref": "c-0"})).json()["items"]
    assert [m["phone"] for m in by_ref] == [NUMBERS[0]]
    by_phone = (await acme.http.get("/messages", params={"phone": "0030 694 853 0922"})).json()
    assert [m["id"] for m in by_phone["items"]] == [second["messages"][0]["id"]]
    rejected = (await acme.http.get("/messages", params={"status": "rejected"})).json()
    assert [m["reason"] for m in rejected["items"]] == ["invalid_format"]
    both = await acme.http.get("/messages", params=[("status", "rejected"), ("status", "queued")])
    assert len(both.json()["items"]) == 6

    error(await acme.http.get("/messages", params={"cursor": "bm9wZQ"}), 400, "invalid_cursor")
    error(await acme.http.get("/messages", params={"phone": "12"}), 400, "invalid_numbers")
    other = await api.account("other")
    assert (await other.http.get("/messages")).json() == {"items": [], "next_cursor": None}


async def test_the_campaign_export_carries_each_client_ref_never_as_a_formula(api: Api) -> None:
    acme = await api.account(credit=100)
    r = await acme.http.post(
        "/campaigns",
        json={
            "sender": "Herald",
            "message": "Hi",
            "recipients": [
                {"phone": NUMBERS[0], "client_ref": "crm-1"},
                {"phone": NUMBERS[1], "client_ref": '=HYPERLINK("x")\nnext'},
                {"phone": NUMBERS[2]},
            ],
        },
    )
    assert r.status_code == 201, r.text
    csv_text = (await acme.http.get(f"/campaigns/{r.json()['id']}/messages.csv")).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [row["client_ref"] for row in rows] == ["crm-1", '\'=HYPERLINK("x") next', ""]
