"""Campaigns over HTTP: create (now or scheduled), every refusal, list, read with progress,
messages, edit while scheduled, delete, run, suspend, resume, stop, preview, balance."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from herald.cli.main import main as cli
from herald.store import campaigns as campaign_store
from herald.text import encode_message
from tests.api.conftest import Api, Caller
from tests.api.test_api_auth import error

pytestmark = pytest.mark.usefixtures("counters_kept")

NUMBERS = ["+306948530920", "+306948530921", "+306948530922"]


def later(api: Api, **delta: float) -> str:
    return (api.clock() + timedelta(**(delta or {"days": 1}))).isoformat()


async def create(caller: Caller, **fields: Any) -> Any:
    body = {
        "name": "Spring sale",
        "sender": "Herald",
        "message": "Hi %Name%",
        "fallback_values": {"name": "you"},
        **fields,
    }
    return await caller.http.post("/campaigns", json=body)


async def test_send_now_runs_at_once_and_reports_what_it_found(api: Api) -> None:
    acme = await api.account(credit=100)
    await acme.http.post("/blacklist", json={"phones": [NUMBERS[2]]})
    recipients = {
        "to": [NUMBERS[0], "12", "0030 694 853 0920", NUMBERS[2]],
        "recipients": [{"phone": NUMBERS[1], "name": "Eleni"}, {"phone": "+30 21"}],
        "fallback_values": {"name": "friend"},
    }
    # An invalid number refuses the request, each one named with its position and reason...
    err = error(await create(acme, **recipients), 400, "invalid_numbers")
    assert err["details"] == {
        "invalid_numbers": [
            {"source": "to", "index": 1, "phone": "12", "reason": "invalid_format"},
            {"source": "recipients", "index": 1, "phone": "+30 21", "reason": "invalid_number"},
        ]
    }
    assert "'12' (to[1]: invalid_format)" in err["message"]
    assert (await acme.http.get("/campaigns")).json()["total"] == 0  # nothing kept
    # ... unless the campaign ignores invalid numbers: they are skipped, and reported.
    r = await create(acme, **recipients, ignore_invalid_numbers=True)
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert campaign["status"] == "running" and campaign["scheduled_at"] is None
    assert campaign["intake"] == {
        "invalid_numbers": err["details"]["invalid_numbers"],
        "blacklisted": [NUMBERS[2]],
        "duplicates": 1,
    }
    run = campaign["run"]
    assert (run["count"], run["segments"], run["credit_used"], run["skipped"]) == (2, 2, 2, 2)
    assert run["rejected_reasons"] == {"blacklisted": 1}
    assert campaign["audience"] == {
        "numbers": 4,
        "recipients": 2,
        "file_rows": 0,
        "contacts": [],
        "groups": [],
    }
    progress = campaign["progress"]
    assert progress["messages"]["expected"] == 3
    assert (progress["messages"]["queued"], progress["messages"]["rejected"]) == (2, 1)
    assert (progress["segments"]["queued"], progress["segments"]["rejected"]) == (2, 0)
    assert [b["credit_used"] for b in campaign["batches"]] == [2]
    assert api.wakes  # the dispatcher was woken
    assert (await acme.http.get("/balance")).json()["credit"] == 98

    page = (
        await acme.http.get(f"/campaigns/{campaign['id']}/messages", params={"status": "queued"})
    ).json()
    assert page["total"] == 2
    by_phone = {m["phone"]: m for m in page["items"]}
    assert by_phone[NUMBERS[1]]["text"] == "Hi Eleni"
    assert by_phone[NUMBERS[0]]["text"] == "Hi friend"
    assert by_phone[NUMBERS[0]]["parts"][0]["state"] == "pending"
    rejected = (
        await acme.http.get(
            f"/campaigns/{campaign['id']}/messages",
            params=[("status", "rejected"), ("status", "failed")],
        )
    ).json()
    assert sorted((m["phone"], m["reason"]) for m in rejected["items"]) == [
        (NUMBERS[2], "blacklisted"),
    ]
    assert rejected["items"][0]["parts"] == []


async def test_scheduled_campaign_keeps_every_option(api: Api) -> None:
    acme = await api.account()
    when = later(api, hours=5)
    r = await create(
        acme,
        to=NUMBERS[:1],
        scheduled_at=when,
        flash=True,
        transcode=True,
        respect_quiet_hours=False,
        quiet_hours=[{"from": "22:00", "to": "07:30"}],
        callback="https://example.com/messages",
        campaign_callback="http://example.com/c",
        reminder={"numbers": ["306948530999"], "minutes_before": 30},
        ignore_invalid_numbers=True,
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "scheduled" and c["run"] is None and not api.wakes
    assert (c["flash"], c["transcode"], c["respect_quiet_hours"], c["ignore_invalid_numbers"]) == (
        True,
        True,
        False,
        True,
    )
    assert c["quiet_hours"] == [{"from": "22:00", "to": "07:30"}]
    assert c["reminder"] == {"numbers": ["+306948530999"], "minutes_before": 30}
    assert (c["callback"], c["campaign_callback"]) == (
        "https://example.com/messages",
        "http://example.com/c",
    )
    assert c["progress"]["messages"]["expected"] == 0 and c["batches"] == []
    async with api.db.acquire() as conn:
        stored = await conn.fetchrow("SELECT reminder, scheduled_at FROM campaigns")
    assert stored["reminder"] == {"numbers": ["+306948530999"], "lead_seconds": 1800}
    default = (await create(acme, name="Defaults", to=NUMBERS[:1], scheduled_at=when)).json()
    assert default["quiet_hours"] == [
        {"from": "23:00", "to": "08:00"},
        {"from": "14:00", "to": "17:00"},
    ]
    assert default["respect_quiet_hours"] is True
    # A scheduled campaign may be created empty, to be filled by a file upload.
    empty = await create(acme, name="For a file", scheduled_at=when)
    assert empty.status_code == 201 and empty.json()["audience"]["numbers"] == 0


async def test_every_refusal_of_a_new_campaign(api: Api) -> None:
    acme = await api.account(credit=1, senders=("Herald", "Other"))
    await acme.http.post("/blacklist", json={"phones": NUMBERS[:1]})
    when = later(api)
    for name in ("x", "Ünïcode", "a" * 31, "semi;colon"):
        err = error(await create(acme, name=name, to=NUMBERS), 422, "invalid_request")
        assert err["details"][0]["location"] == "body.name"
    assert (await create(acme, to=NUMBERS[1:2], scheduled_at=when)).status_code == 201
    err = error(await create(acme, to=NUMBERS, scheduled_at=when), 409, "name_conflict")
    assert err["details"] == {"name": "Spring sale"}
    err = error(
        await create(acme, name="Bb", sender="Nobody", to=NUMBERS), 400, "sender_not_allowed"
    )
    assert err["details"] == {"sender": "Nobody"}
    err = error(
        await create(acme, name="Bc", sender="Twelve chars", to=NUMBERS), 400, "invalid_sender"
    )
    assert "too long" in err["message"]
    err = error(await create(acme, name="Cx", to=NUMBERS * 17), 400, "too_many_recipients")
    assert err["details"] == {"given": 51, "max": 50}
    err = error(
        await create(acme, name="Dx", message="Hi [~name", to=NUMBERS), 400, "malformed_template"
    )
    assert err["details"]["position"] == 3
    err = error(await create(acme, name="Ex", to=["bad", NUMBERS[0]]), 400, "invalid_numbers")
    assert err["details"]["invalid_numbers"][0]["phone"] == "bad"
    err = error(
        await create(acme, name="Ex", to=["bad", NUMBERS[0]], ignore_invalid_numbers=True),
        400,
        "no_recipients",
    )
    assert err["details"]["blacklisted"] == [NUMBERS[0]]
    assert err["details"]["invalid_numbers"][0]["phone"] == "bad"
    error(await create(acme, name="Fx"), 400, "no_recipients")  # send now, nobody at all
    err = error(await create(acme, name="Gx", to=NUMBERS), 402, "insufficient_balance")
    assert err["details"] == {"needed": 2, "available": 1}  # the blacklisted one costs nothing
    err = error(
        await create(acme, name="Gx", to=NUMBERS, scheduled_at=later(api, hours=-1)),
        400,
        "invalid_schedule",
    )
    error(
        await create(acme, name="Gx", to=NUMBERS, scheduled_at="2030-01-01T10:00:00"),
        422,
        "invalid_request",
    )  # no time zone
    error(
        await create(
            acme, name="Gx", to=NUMBERS[1:], reminder={"numbers": [NUMBERS[1]], "minutes_before": 5}
        ),
        400,
        "invalid_reminder",
    )
    err = error(
        await create(
            acme,
            name="Gx",
            to=NUMBERS[1:],
            scheduled_at=when,
            reminder={"numbers": ["nope"], "minutes_before": 5},
        ),
        400,
        "invalid_numbers",
    )
    assert err["details"]["invalid_numbers"][0]["source"] == "reminder.numbers"
    error(
        await create(acme, name="Gx", to=NUMBERS, callback="ftp://example.com/x"),
        422,
        "invalid_request",
    )
    error(await create(acme, name="Gx", to=NUMBERS, contacts=[77]), 404, "contact_not_found")
    error(await create(acme, name="Gx", to=NUMBERS, groups=[77]), 404, "group_not_found")
    error(
        await create(acme, name="Gx", to=NUMBERS, quiet_hours=[{"from": "8:00", "to": "9"}]),
        422,
        "invalid_request",
    )
    # Nothing of the refused requests was kept: only the first campaign exists.
    listed = (await acme.http.get("/campaigns")).json()
    assert [c["name"] for c in listed["items"]] == ["Spring sale"]
    assert (await acme.http.get("/balance")).json()["credit"] == 1


async def test_insufficient_balance_leaves_nothing_and_names_the_amounts(api: Api) -> None:
    acme = await api.account(credit=2)
    err = error(await create(acme, to=NUMBERS), 402, "insufficient_balance")
    assert err["details"] == {"needed": 3, "available": 2}
    assert (await acme.http.get("/campaigns")).json()["total"] == 0
    assert (await create(acme, to=NUMBERS[:2])).status_code == 201  # the name is free again


async def test_contacts_and_groups_as_recipients(api: Api) -> None:
    acme = await api.account()
    a = (await acme.http.post("/contacts", json={"phone": NUMBERS[0], "name": "Ann"})).json()
    b = (await acme.http.post("/contacts", json={"phone": NUMBERS[1], "name": "Bob"})).json()
    group = (await acme.http.post("/groups", json={"name": "Both"})).json()
    await acme.http.post(
        f"/groups/{group['id']}/contacts", json={"contact_ids": [a["id"], b["id"]]}
    )
    c = (await create(acme, contacts=[a["id"]], groups=[group["id"]])).json()
    assert c["audience"]["contacts"] == [a["id"]] and c["audience"]["groups"] == [group["id"]]
    assert c["run"]["count"] == 2  # Ann once, although named twice
    texts = {
        m["phone"]: m["text"]
        for m in (await acme.http.get(f"/campaigns/{c['id']}/messages")).json()["items"]
    }
    assert texts == {NUMBERS[0]: "Hi Ann", NUMBERS[1]: "Hi Bob"}
    await acme.http.post("/blacklist", json={"phones": NUMBERS[:2]})
    error(await create(acme, name="Blacklisted", groups=[group["id"]]), 400, "no_recipients")


async def test_list_pages_filters_and_sorts(api: Api) -> None:
    acme = await api.account()
    names = ["Delta", "alpha", "Charlie", "bravo"]
    for i, name in enumerate(names):
        r = await create(
            acme,
            name=name,
            to=NUMBERS[:1],
            scheduled_at=later(api, hours=i + 1) if i % 2 == 0 else None,
        )
        assert r.status_code == 201
    page = (await acme.http.get("/campaigns", params={"page_size": 3})).json()
    assert (page["total"], page["pages"], len(page["items"])) == (4, 2, 3)
    assert [c["name"] for c in page["items"]] == ["bravo", "Charlie", "alpha"]  # newest first
    by_name = (await acme.http.get("/campaigns", params={"sort": "name", "order": "asc"})).json()
    assert [c["name"] for c in by_name["items"]] == sorted(names)  # byte order: upper first
    by_id = (await acme.http.get("/campaigns", params={"sort": "id", "order": "asc"})).json()
    assert [c["name"] for c in by_id["items"]] == names
    sched = (
        await acme.http.get("/campaigns", params={"sort": "scheduled_at", "order": "desc"})
    ).json()
    assert [c["name"] for c in sched["items"]] == ["Charlie", "Delta", "bravo", "alpha"]
    running = (await acme.http.get("/campaigns", params={"status": "running"})).json()
    assert sorted(c["name"] for c in running["items"]) == ["alpha", "bravo"]
    both = (
        await acme.http.get("/campaigns", params=[("status", "running"), ("status", "scheduled")])
    ).json()
    assert both["total"] == 4
    assert [
        c["name"]
        for c in (await acme.http.get("/campaigns", params={"name_contains": "RAV"})).json()[
            "items"
        ]
    ] == ["bravo"]
    window = {"scheduled_from": later(api, minutes=90), "scheduled_before": later(api, hours=4)}
    assert [
        c["name"] for c in (await acme.http.get("/campaigns", params=window)).json()["items"]
    ] == ["Charlie"]
    created = (
        await acme.http.get(
            "/campaigns",
            params={"created_from": later(api, days=-1), "created_before": later(api, days=1)},
        )
    ).json()
    assert created["total"] == 4
    assert (
        await acme.http.get("/campaigns", params={"created_before": later(api, days=-1)})
    ).json()["total"] == 0
    empty = (await acme.http.get("/campaigns", params={"page": 9})).json()
    assert (empty["items"], empty["total"]) == ([], 4)


async def test_edit_only_while_scheduled(api: Api) -> None:
    acme = await api.account(senders=("Herald", "Other"))
    await create(acme, name="Taken", to=NUMBERS[:1], scheduled_at=later(api))
    c = (
        await create(acme, to=NUMBERS, recipients=[{"phone": NUMBERS[0]}], scheduled_at=later(api))
    ).json()
    url = f"/campaigns/{c['id']}"
    edit = {
        "message": "Bye %Name%",
        "sender": "Other",
        "to": [NUMBERS[2], "zzz"],
        "name": "Renamed",
        "scheduled_at": later(api, days=2),
        "campaign_callback": None,
    }
    err = error(await acme.http.patch(url, json=edit), 400, "invalid_numbers")
    assert err["details"]["invalid_numbers"] == [
        {"source": "to", "index": 1, "phone": "zzz", "reason": "invalid_format"}
    ]
    assert (await acme.http.get(url)).json()["name"] == "Spring sale"  # nothing changed
    r = await acme.http.patch(url, json={**edit, "ignore_invalid_numbers": True})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["message"], edited["sender"], edited["name"]) == (
        "Bye %Name%",
        "Other",
        "Renamed",
    )
    assert edited["audience"]["numbers"] == 2 and edited["audience"]["recipients"] == 1
    assert edited["intake"]["invalid_numbers"][0]["phone"] == "zzz"
    error(await acme.http.patch(url, json={"name": "Taken"}), 409, "name_conflict")
    err = error(await acme.http.patch(url, json={"message": "%%[~"}), 400, "malformed_template")
    assert err["details"]["position"] == 2
    error(
        await acme.http.patch(url, json={"scheduled_at": later(api, hours=-2)}),
        400,
        "invalid_schedule",
    )
    error(await acme.http.patch(url, json={"sender": "Ghost"}), 400, "sender_not_allowed")
    error(await acme.http.patch(url, json={"to": ["zzz"], "recipients": []}), 400, "no_recipients")
    error(await acme.http.patch(url, json={"name": None}), 422, "invalid_request")
    # An edit leaving scheduled_at out keeps the schedule; null would leave the campaign
    # waiting with no time: refused, naming the ways out.
    when = (await acme.http.get(url)).json()["scheduled_at"]
    kept = (await acme.http.patch(url, json={"message": "Bye again"})).json()
    assert kept["scheduled_at"] == when and kept["status"] == "scheduled"
    err = error(await acme.http.patch(url, json={"scheduled_at": None}), 400, "invalid_schedule")
    assert f"POST /v1/campaigns/{c['id']}/run" in err["message"]
    assert (await acme.http.get(url)).json()["scheduled_at"] == when
    run = (await acme.http.post(f"{url}/run")).json()
    assert run["count"] == 2  # NUMBERS[2] and NUMBERS[0] (recipient object); zzz skipped
    # Run by hand, the schedule is used up: it shows none, and will not run again by itself.
    ran = (await acme.http.get(url)).json()
    assert (ran["status"], ran["scheduled_at"]) == ("running", None)
    err = error(
        await acme.http.patch(url, json={"message": "Too late"}), 409, "campaign_not_scheduled"
    )
    assert err["details"] == {"status": "running"}


async def test_delete_only_when_not_sending(api: Api) -> None:
    acme = await api.account()
    scheduled = (await create(acme, name="Sc", to=NUMBERS, scheduled_at=later(api))).json()
    assert (await acme.http.delete(f"/campaigns/{scheduled['id']}")).status_code == 204
    error(await acme.http.get(f"/campaigns/{scheduled['id']}"), 404, "campaign_not_found")
    error(await acme.http.delete(f"/campaigns/{scheduled['id']}"), 404, "campaign_not_found")
    running = (await create(acme, name="Ru", to=NUMBERS)).json()
    err = error(await acme.http.delete(f"/campaigns/{running['id']}"), 409, "campaign_running")
    assert err["details"] == {"status": "running"}
    await acme.http.post(f"/campaigns/{running['id']}/suspend")
    error(await acme.http.delete(f"/campaigns/{running['id']}"), 409, "campaign_running")
    await acme.http.post(f"/campaigns/{running['id']}/stop")
    assert (await acme.http.delete(f"/campaigns/{running['id']}")).status_code == 204
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0


async def test_lifecycle_run_suspend_resume_stop_and_run_again(api: Api) -> None:
    acme = await api.account(credit=10)
    c = (await create(acme, to=NUMBERS, scheduled_at=later(api))).json()
    url = f"/campaigns/{c['id']}"
    err = error(await acme.http.post(f"{url}/suspend"), 409, "invalid_campaign_state")
    assert err["details"]["status"] == "scheduled" and "run" in err["details"]["allowed"]
    error(await acme.http.post(f"{url}/run", json={"message": "Bad [~"}), 400, "malformed_template")
    r = await acme.http.post(
        f"{url}/run", json={"message": "Override %Name%", "batch_description": "first wave"}
    )
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["number"], first["count"], first["credit_used"]) == (1, 3, 3)
    err = error(await acme.http.post(f"{url}/run"), 409, "invalid_campaign_state")
    # What a user may do; `complete` is herald's own move, never offered.
    assert err["details"] == {"status": "running", "allowed": ["stop", "suspend"]}
    assert "allowed now: stop, suspend" in err["message"]
    error(await acme.http.post(f"{url}/resume"), 409, "invalid_campaign_state")

    wakes = len(api.wakes)
    suspended = (await acme.http.post(f"{url}/suspend")).json()
    assert suspended["status"] == "suspended"
    assert [b["status"] for b in suspended["batches"]] == ["suspended"]
    resumed = (await acme.http.post(f"{url}/resume")).json()
    assert resumed["status"] == "running" and resumed["batches"][0]["status"] == "sending"
    assert len(api.wakes) > wakes
    assert resumed["batches"][0]["description"] == "first wave"
    assert resumed["batches"][0]["template"] == "Override %Name%"

    stopped = (await acme.http.post(f"{url}/stop")).json()
    assert stopped["status"] == "stopped" and stopped["stopped_messages"] == 3
    assert stopped["progress"]["messages"]["stopped"] == 3
    assert stopped["batches"][0]["status"] == "stopped"
    assert stopped["batches"][0]["credit_used"] == 0  # nothing was sent: all refunded
    assert (await acme.http.get("/balance")).json()["credit"] == 10
    error(await acme.http.post(f"{url}/stop"), 409, "invalid_campaign_state")

    again = (await acme.http.post(f"{url}/run", json={})).json()
    assert (again["number"], again["count"]) == (2, 3)
    detail = (await acme.http.get(url)).json()
    assert [b["number"] for b in detail["batches"]] == [1, 2]
    assert (
        detail["progress"]["messages"] | {"expected": 6, "queued": 3, "stopped": 3}
        == detail["progress"]["messages"]
    )
    balance = (await acme.http.get("/balance")).json()
    assert (balance["credit"], balance["credit_used_total"]) == (7, 3)
    assert [(b["number"], b["credit_used"]) for b in balance["recent_batches"]] == [(2, 3), (1, 0)]
    acme_poor = await api.account("poor", credit=1)
    poor = (await create(acme_poor, to=NUMBERS, scheduled_at=later(api))).json()
    err = error(
        await acme_poor.http.post(f"/campaigns/{poor['id']}/run"), 402, "insufficient_balance"
    )
    assert err["details"] == {"needed": 3, "available": 1}
    assert (await acme_poor.http.get(f"/campaigns/{poor['id']}")).json()["status"] == "scheduled"


async def test_mobiles_only_refuses_landlines_everywhere(api: Api) -> None:
    landline = "+302101234567"  # Athens, fixed line
    acme = await api.account()
    contact = (await acme.http.post("/contacts", json={"phone": "+302101234568"})).json()
    r = await create(
        acme,
        to=[NUMBERS[0], landline],
        contacts=[contact["id"]],
        mobiles_only=True,
        ignore_invalid_numbers=True,
        scheduled_at=later(api),
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["mobiles_only"] is True
    assert c["intake"]["invalid_numbers"] == [
        {"source": "to", "index": 1, "phone": landline, "reason": "not_mobile"}
    ]
    upload = await acme.http.post(
        f"/campaigns/{c['id']}/recipients/file",
        files={"file": ("n.csv", f"phone\n{landline}\n{NUMBERS[1]}\n".encode(), "text/csv")},
    )
    assert upload.json()["reasons"] == {"not_mobile": 1}, upload.text
    run = (await acme.http.post(f"/campaigns/{c['id']}/run")).json()
    # The number given and the contact's landline are both left out; mobiles go.
    assert (run["count"], run["skipped"]) == (2, 2)
    # Without the option, a landline is a number like any other.
    r = await create(acme, name="Anyone", to=[landline])
    assert r.status_code == 201 and r.json()["run"]["count"] == 1


async def test_deferred_messages_say_why_and_until_when(api: Api) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    athens = ZoneInfo("Europe/Athens")
    acme = await api.account()
    local = api.clock().astimezone(athens)  # 09:00-13:00 in Athens (see Clock)
    quiet = {"from": f"{local.hour:02d}:00", "to": "14:00"}
    c = (await create(acme, to=NUMBERS, quiet_hours=[quiet])).json()
    ends = datetime(local.year, local.month, local.day, 14, tzinfo=athens).astimezone(UTC)
    progress = c["progress"]
    assert progress["messages"]["deferred"] == 3
    assert progress["deferred"] == [
        {
            "reason": "quiet_hours",
            "messages": 3,
            "next_at": ends.isoformat().replace("+00:00", "Z"),
            "last_at": ends.isoformat().replace("+00:00", "Z"),
        }
    ]
    # Not respecting quiet hours: nothing waits.
    now = (await create(acme, name="Now", to=NUMBERS, respect_quiet_hours=False)).json()
    assert now["progress"]["deferred"] == [] and now["progress"]["messages"]["queued"] == 3


async def test_every_stop_carries_its_reason_and_time(api: Api) -> None:
    from herald.campaigns.service import scheduled_run_failed
    from herald.errors import InsufficientBalanceError

    acme = await api.account(credit=10)
    # herald stops a scheduled campaign whose run the credit cannot cover: GET says why.
    poor = (await create(acme, name="Poor", to=NUMBERS, scheduled_at=later(api))).json()
    await scheduled_run_failed(api.db, poor["id"], acme.id, InsufficientBalanceError(3, 0))
    stopped = (await acme.http.get(f"/campaigns/{poor['id']}")).json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"] is not None
    assert stopped["stop_reason"]["code"] == "insufficient_balance"
    assert "3" in stopped["stop_reason"]["message"]
    # A stop asked for says so, at the clock's time.
    running = (await create(acme, name="Now", to=NUMBERS)).json()
    await acme.http.post(f"/campaigns/{running['id']}/stop")
    mine = (await acme.http.get(f"/campaigns/{running['id']}")).json()
    assert mine["stop_reason"]["code"] == "stopped_by_user"
    assert mine["stopped_at"] == api.clock().isoformat().replace("+00:00", "Z")
    # Running again forgets the stop.
    await acme.http.post(f"/campaigns/{running['id']}/run")
    again = (await acme.http.get(f"/campaigns/{running['id']}")).json()
    assert (again["status"], again["stopped_at"], again["stop_reason"]) == ("running", None, None)


async def test_unknown_query_parameters_are_refused_by_name(api: Api) -> None:
    acme = await api.account()
    c = (await create(acme, to=NUMBERS)).json()
    url = f"/campaigns/{c['id']}/messages"
    err = error(await acme.http.get(url, params={"phone": NUMBERS[0]}), 400, "unknown_parameter")
    assert err["details"] == {
        "unknown": ["phone"],
        "allowed": ["after", "batch_id", "page", "page_size", "status"],
    }
    assert "'phone'" in err["message"]
    ok = await acme.http.get(url, params={"status": "queued", "page": 1, "page_size": 2})
    assert ok.status_code == 200 and ok.json()["total"] == 3
    err = error(
        await acme.http.get("/campaigns", params={"name": "x", "sort": "name", "limit": 3}),
        400,
        "unknown_parameter",
    )
    assert err["details"]["unknown"] == ["limit", "name"]
    error(await acme.http.get("/contacts", params={"phone": "+30"}), 400, "unknown_parameter")
    blacklist = await acme.http.post("/blacklist?force=1", json={"phones": NUMBERS[:1]})
    error(blacklist, 400, "unknown_parameter")


async def test_stopped_messages_count_in_the_messages_metric(api: Api) -> None:
    acme = await api.account()
    before = _messages_metric(api)
    assert before["stopped"] == 0  # every status is a series from the start
    c = (await create(acme, to=NUMBERS)).json()
    stopped = (await acme.http.post(f"/campaigns/{c['id']}/stop")).json()
    assert stopped["stopped_messages"] == 3
    after = _messages_metric(api)
    assert after["stopped"] == 3 and after["queued"] == 3


def _messages_metric(api: Api) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    families = text_string_to_metric_families(api.metrics.exposition().decode())
    return {
        s.labels["status"]: s.value
        for f in families
        if f.name == "herald_messages"
        for s in f.samples
        if s.name == "herald_messages_total"
    }


async def test_preview_matches_the_cli(api: Api) -> None:
    acme = await api.account()
    r = await acme.http.post(
        "/campaigns/preview",
        json={
            "message": "Привет %Name%, code [~code]",
            "recipient": {"name": "Ann", "labels": {"code": 7}},
        },
    )
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["rendered"] == "Привет Ann, code 7"
    assert (shown["encoding"], shown["segments"], shown["data_coding"]) == ("ucs2", 1, 8)
    assert shown["forced_ucs2_by"][:2] == ["П", "р"]
    cli_out = CliRunner().invoke(cli, ["preview", "--json", "--transcode", shown["rendered"]])
    assert cli_out.exit_code == 0, cli_out.output
    expected = json.loads(cli_out.output)
    assert {k: shown[k] for k in expected} == expected
    fallback = (
        await acme.http.post(
            "/campaigns/preview",
            json={"message": "Hi %Name%", "fallback_values": {"name": "friend"}, "flash": True},
        )
    ).json()
    assert (fallback["rendered"], fallback["data_coding"], fallback["chars_left"]) == (
        "Hi friend",
        encode_message("Hi friend", flash=True).data_coding,
        151,
    )
    err = error(
        await acme.http.post(
            "/campaigns/preview", json={"message": "Hi %Name%", "recipient": {"name": "Bell\u0007"}}
        ),
        400,
        "invalid_label_value",
    )
    assert err["details"] == {"label": "Name"}
    err = error(
        await acme.http.post("/campaigns/preview", json={"message": "Hi [~code]"}),
        400,
        "missing_label",
    )
    assert err["details"] == {"label": "code"}
    error(
        await acme.http.post("/campaigns/preview", json={"message": "[~]"}),
        400,
        "malformed_template",
    )
    error(
        await acme.http.post("/campaigns/preview", json={"message": "😀" * 9000}),
        400,
        "too_many_parts",
    )


async def test_a_campaign_and_its_batches_are_read_in_one_snapshot(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `herald campaign run --wait` polls this read: a stop committed between reading the
    # campaign and reading its batches showed a running campaign with a stopped batch.
    acme = await api.account(credit=100)
    campaign = (await create(acme, to=[NUMBERS[0]])).json()
    read_counts = campaign_store.recipient_counts

    async def stop_in_between(conn: Any, campaign_id: int) -> Any:
        async with api.db.acquire() as other, other.transaction():  # another request's stop
            await other.execute(
                "UPDATE campaigns SET status = 'stopped' WHERE id = $1", campaign_id
            )
            await other.execute(
                "UPDATE batches SET status = 'stopped' WHERE campaign_id = $1", campaign_id
            )
        return await read_counts(conn, campaign_id)

    monkeypatch.setattr(campaign_store, "recipient_counts", stop_in_between)
    detail = (await acme.http.get(f"/campaigns/{campaign['id']}")).json()
    assert (detail["status"], [b["status"] for b in detail["batches"]]) == ("running", ["sending"])
    monkeypatch.undo()
    detail = (await acme.http.get(f"/campaigns/{campaign['id']}")).json()
    assert (detail["status"], [b["status"] for b in detail["batches"]]) == ("stopped", ["stopped"])
