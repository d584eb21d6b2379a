"""Campaign insight through real HTTP: the report, the CSV export, the audience before a run,
cursor paging of messages. Outcomes are written to the real database as the send path writes
them (the whole path, with the simulator, is in tests/e2e/test_campaign_insight.py)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from herald.campaigns.exports import COLUMNS, ExportService
from tests.api.conftest import Api, Caller
from tests.api.test_api_auth import error

GR = ["+306948530920", "+306948530921", "+306948530922", "+306948530923"]
GB = ["+447400123456", "+447400123457"]
US = ["+12015550123"]


async def create(caller: Caller, **fields: Any) -> dict[str, Any]:
    body = {"name": "Report", "sender": "Herald", "respect_quiet_hours": False, **fields}
    r = await caller.http.post("/campaigns", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def settle(
    conn: asyncpg.Connection,
    phone: str,
    status: str,
    *,
    at: datetime,
    latency: float = 2.0,
    reason: str | None = None,
    bind: str = "acme@smsc:2775",
) -> None:
    """What the send path leaves for a message: its parts submitted at `at` and, for a final
    status, their receipts `latency` seconds later; the message's status and times."""
    part_state = {"delivered": "delivered", "failed": "undeliverable", "sent": "submitted"}[status]
    receipt_at = at + timedelta(seconds=latency) if status != "sent" else None
    message_id = await conn.fetchval("SELECT id FROM messages WHERE phone = $1", phone)
    await conn.execute(
        "UPDATE parts SET state = $2, bind = $3, smsc_id = 'id-' || message_id || '-' || seq,"
        " submitted_at = $4, receipt_at = $5 WHERE message_id = $1",
        message_id,
        part_state,
        bind,
        at,
        receipt_at,
    )
    await conn.execute(
        "UPDATE messages SET status = $2, reason = $3, sent_at = $4, done_at = $5 WHERE id = $1",
        message_id,
        status,
        reason,
        at,
        receipt_at,
    )


async def test_a_report_counts_by_status_reason_country_route_and_bind(api: Api) -> None:
    acme = await api.account()
    await acme.http.post("/blacklist", json={"phones": [GR[3]]})
    campaign = await create(
        acme,
        message="Hi %Name%, sale: %Link%",
        fallback_values={"name": "there"},
        to=[*GR, *GB, *US],
        track_link_url="https://shop.example.com/",
    )
    now = api.clock.now.replace(second=0)
    async with api.db.acquire() as conn:
        await settle(conn, GR[0], "delivered", at=now, latency=1.0)
        await settle(conn, GR[1], "delivered", at=now, latency=3.0)
        await settle(conn, GR[2], "failed", at=now + timedelta(minutes=1), reason="undeliverable")
        await settle(conn, GB[0], "delivered", at=now + timedelta(minutes=1), latency=5.0)
        await settle(conn, GB[1], "sent", at=now + timedelta(minutes=2), bind="other@smsc:2775")
        await conn.execute(
            "INSERT INTO link_events (message_id, campaign_id, kind, at)"
            " SELECT m.id, m.campaign_id, 'click', $2"
            " FROM unnest($1::text[]) AS p(phone) JOIN messages m ON m.phone = p.phone",
            [GR[0], GR[0], GB[0]],
            now + timedelta(minutes=3),
        )
    r = await acme.http.get(f"/campaigns/{campaign['id']}/report")
    assert r.status_code == 200, r.text
    report = r.json()
    by_status = report["messages"]["by_status"]
    assert {s: n for s, n in by_status.items() if n} == {
        "delivered": 3,
        "failed": 1,
        "sent": 1,
        "queued": 1,  # the US number, not sent yet
        "rejected": 1,  # the blacklisted one
    }
    assert report["messages"] == {"total": 7, "accepted": 5, "by_status": by_status}
    assert report["delivery_rate"] == 0.6
    assert report["credit_used"] == campaign["run"]["credit_used"] == 6
    assert report["reasons"] == [
        {"status": "failed", "reason": "undeliverable", "messages": 1},
        {"status": "rejected", "reason": "blacklisted", "messages": 1},
    ]
    assert [(c["country"], c["messages"], c["delivery_rate"]) for c in report["countries"]] == [
        ("GR", 4, round(2 / 3, 4)),
        ("GB", 2, 1.0),
        ("US", 1, None),
    ]
    assert report["countries"][0]["by_status"] == {"delivered": 2, "failed": 1, "rejected": 1}
    assert [(r["route"], r["messages"]) for r in report["routes"]] == [("all", 6), (None, 1)]
    binds = {b["bind"]: b for b in report["binds"]}
    assert binds["acme@smsc:2775"]["by_state"] == {"delivered": 3, "undeliverable": 1}
    assert binds["acme@smsc:2775"]["delivery_rate"] == 0.75
    assert binds["other@smsc:2775"]["by_state"] == {"submitted": 1}
    assert binds[None]["by_state"] == {"pending": 1}
    assert report["latency"] == {"samples": 4, "p50": 2.5, "p95": 4.7, "p99": 4.94}
    assert report["clicks"] == {"links": 6, "clicks": 3, "unique": 2, "click_rate": 0.3333}
    points = {datetime.fromisoformat(p["at"]): p for p in report["timeline"]["points"]}
    assert report["timeline"]["interval_seconds"] == 60
    timeline = {
        at - now: (p["sent"], p["delivered"], p["failed"], p["clicked"]) for at, p in points.items()
    }
    assert timeline == {
        timedelta(0): (2, 2, 0, 0),
        timedelta(minutes=1): (2, 1, 1, 0),
        timedelta(minutes=2): (1, 0, 0, 0),
        timedelta(minutes=3): (0, 0, 0, 3),
    }
    hourly = (
        await acme.http.get(f"/campaigns/{campaign['id']}/report", params={"interval": 3600})
    ).json()["timeline"]
    assert sum(p["sent"] for p in hourly["points"]) == 5
    error(
        await acme.http.get(f"/campaigns/{campaign['id']}/report", params={"interval": 90}),
        422,
        "invalid_request",
    )
    other = await api.account("other")
    error(await other.http.get(f"/campaigns/{campaign['id']}/report"), 404, "campaign_not_found")


async def test_messages_export_as_csv_every_row_and_no_formula(api: Api) -> None:
    acme = await api.account()
    campaign = await create(
        acme, message="Hi", to=[*GR[:3], "=HYPERLINK(1)"], ignore_invalid_numbers=True
    )
    now = api.clock.now
    async with api.db.acquire() as conn:
        await settle(conn, GR[0], "delivered", at=now)
        await conn.execute(
            "UPDATE parts SET smsc_id = '=cmd|calc' WHERE message_id ="
            " (SELECT id FROM messages WHERE phone = $1)",
            GR[0],
        )
        await conn.execute(
            "INSERT INTO link_events (message_id, campaign_id, kind, at)"
            " SELECT id, campaign_id, 'click', $2 FROM messages WHERE phone = $1",
            GR[0],
            now,
        )
    async with acme.http.stream("GET", f"/campaigns/{campaign['id']}/messages.csv") as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["x-herald-messages"] == "3"  # the invalid one skipped
        assert "campaign-" in r.headers["content-disposition"]
        text = (await r.aread()).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["phone"] for r in rows] == GR[:3]
    first = rows[0]
    assert (first["status"], first["country"], first["parts"], first["clicks"]) == (
        "delivered",
        "GR",
        "1",
        "1",
    )
    assert first["smsc_message_ids"] == "'=cmd|calc"
    assert datetime.fromisoformat(first["delivered_at"]) == now + timedelta(seconds=2)
    error(await acme.http.get("/campaigns/999/messages.csv"), 404, "campaign_not_found")


async def test_an_export_reads_chunk_by_chunk_in_id_order(api: Api) -> None:
    acme = await api.account()
    numbers = [f"+3069485309{i:02d}" for i in range(25)]
    campaign = await create(acme, message="Hi", to=numbers)
    export = await ExportService(api.db, chunk=4).messages_csv(acme.id, campaign["id"])
    chunks = [chunk async for chunk in export.rows]
    assert len(chunks) == 1 + 7  # the header, then ceil(25 / 4) chunks
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert [r["phone"] for r in rows] == numbers
    ids = [int(r["message_id"]) for r in rows]
    assert ids == sorted(ids) and export.messages == 25


async def test_messages_page_after_a_cursor(api: Api) -> None:
    acme = await api.account()
    numbers = [f"+3069485309{i:02d}" for i in range(7)]
    campaign = await create(acme, message="Hi", to=numbers)
    path = f"/campaigns/{campaign['id']}/messages"
    first = (await acme.http.get(path, params={"page_size": 3})).json()
    assert (first["total"], first["pages"]) == (7, 3)
    seen = [m["phone"] for m in first["items"]]
    after = first["next_after"]
    while after is not None:
        page = (await acme.http.get(path, params={"page_size": 3, "after": after})).json()
        assert (page["total"], page["pages"], page["page"]) == (None, None, 1)
        seen += [m["phone"] for m in page["items"]]
        after = page["next_after"]
    assert seen == numbers
    last = (await acme.http.get(path, params={"page_size": 3, "page": 3})).json()
    assert last["next_after"] is None and len(last["items"]) == 1
    # with `after`, `page` is unused (docs/api.md): the page after the cursor, not page 2
    both = (
        await acme.http.get(path, params={"page_size": 3, "page": 2, "after": first["next_after"]})
    ).json()
    assert [m["phone"] for m in both["items"]] == numbers[3:6]


async def test_the_audience_before_a_run_with_each_recipients_validity(api: Api) -> None:
    acme = await api.account()
    await acme.http.post("/blacklist", json={"phones": [GR[2]]})
    contact = (
        await acme.http.post("/contacts", json={"phone": GB[0], "name": "Ann", "labels": {}})
    ).json()
    member = (await acme.http.post("/contacts", json={"phone": GB[1], "name": "Bo"})).json()
    group = (await acme.http.post("/groups", json={"name": "Members"})).json()
    await acme.http.post(f"/groups/{group['id']}/contacts", json={"contact_ids": [member["id"]]})
    campaign = await create(
        acme,
        message="Hi %Name%, code [~code]",
        fallback_values={"name": "there"},
        to=[GR[0], "12"],
        ignore_invalid_numbers=True,
        recipients=[
            {"phone": GR[1], "name": "Eleni", "labels": {"code": "A1"}},
            {"phone": GR[2], "labels": {"code": "B2"}},
        ],
        contacts=[contact["id"]],
        groups=[group["id"]],
        scheduled_at=(api.clock.now + timedelta(days=1)).isoformat(),
    )
    path = f"/campaigns/{campaign['id']}/recipients"
    listed = (await acme.http.get(path)).json()
    assert listed["total"] == 6
    assert [(i["source"], i["phone"], i["valid"], i["reason"]) for i in listed["items"]] == [
        ("number", GR[0], False, "missing_label:code"),
        ("number", None, False, "invalid_format"),
        ("recipient", GR[1], True, None),
        ("recipient", GR[2], False, "blacklisted"),
        ("contact", GB[0], False, "missing_label:code"),
        ("group", GB[1], False, "missing_label:code"),
    ]
    assert listed["items"][4]["contact_id"] == contact["id"]
    assert listed["items"][5]["group_id"] == group["id"]
    pages = [
        (await acme.http.get(path, params={"page": p, "page_size": 4})).json()["items"]
        for p in (1, 2, 3)
    ]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert [i["phone_raw"] for i in pages[0] + pages[1]] == [
        i["phone_raw"] for i in listed["items"]
    ]
    campaigns = (await acme.http.get("/campaigns")).json()["items"]
    assert [c["recipient_count"] for c in campaigns] == [6]
    assert (await acme.http.get(f"/campaigns/{campaign['id']}")).json()["recipient_count"] == 6
