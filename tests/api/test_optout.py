"""Inbound messages stored before they are answered (issue 21, item 4), against the real
PostgreSQL: matched to the accounts owning the sender, concatenated parts put together from any
bind and across restarts, keywords (opt-out as before, opt-in only where an opt-out put the
number), `inbound` callbacks, and GET /v1/inbound."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from herald.delivery.inbound import AutoReplyRequest, Inbound
from herald.delivery.replies import Keywords, is_opt_out
from herald.metrics import Metrics
from herald.simulator.receipts import mo_pdus
from herald.smpp import InboundMessage, inbound_message
from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu
from tests.api.conftest import Api
from tests.api.test_api_auth import error

KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
PHONE = "+306948530920"


def test_keywords_are_matched_trimmed_and_case_folded() -> None:
    assert is_opt_out("  stop\n", KEYWORDS) and is_opt_out("Unsubscribe", KEYWORDS)
    assert is_opt_out("STRASSE", ("straße",))  # case folding, not just lower()
    assert not is_opt_out("stop it", KEYWORDS) and not is_opt_out("", KEYWORDS)
    keywords = Keywords(opt_out=KEYWORDS, opt_in=("START",), replies={"help": "Call us"})
    assert keywords.match(" Start ").action == "opt_in"
    assert (keywords.match("HELP").keyword, keywords.match("HELP").reply) == ("help", "Call us")
    assert keywords.match("help me").keyword is None and keywords.match(None).keyword is None


def mo(text: str, source: str = "306948530920", destination: str = "12345") -> list[InboundMessage]:
    return [inbound_message(p) for p in mo_pdus(source, destination, text, reference=42)]


def inbound(api: Api, replies: list[AutoReplyRequest] | None = None, **ttl: float) -> Inbound:
    async def reply(request: AutoReplyRequest) -> None:
        assert replies is not None
        replies.append(request)

    return Inbound(
        api.db,
        keywords=Keywords(
            opt_out=KEYWORDS, opt_in=("START", "UNSTOP"), replies={"STOP": "Bye", "INFO": "Hi"}
        ),
        metrics=Metrics(),
        clock=api.clock,
        parts_ttl=ttl.get("parts_ttl", 3600.0),
        auto_reply=reply if replies is not None else None,
    )


async def test_opt_out_and_opt_in_for_the_owners_of_the_sender(api: Api) -> None:
    acme = await api.account("acme", senders=("12345", "306900000001"))
    shared = await api.account("shared", senders=("12345",))
    other = await api.account("other", senders=("99999",))
    replies: list[AutoReplyRequest] = []
    service = inbound(api, replies)

    for text, source, destination in [
        ("Hello there", "306948530920", "12345"),
        (" Stop ", "306948530920", "12345"),
        ("STOP", "306948530920", "12345"),  # again: no harm
        ("quit", "+447400123456", "+306900000001"),
        ("STOP", "not a number", "12345"),
        ("STOP", "306948530921", "55555"),  # nobody owns that sender
    ]:
        for message in mo(text, source, destination):
            await service.receive("sim", message)

    listed = (await acme.http.get("/blacklist")).json()
    assert [(e["phone"], e["source"]) for e in listed["items"]] == [
        (PHONE, "opt_out"),
        ("+447400123456", "opt_out"),
    ]
    assert [e["phone"] for e in (await shared.http.get("/blacklist")).json()["items"]] == [PHONE]
    assert (await other.http.get("/blacklist")).json()["total"] == 0
    # one automatic reply per STOP from a number, from the first account owning the sender
    assert [(r.account_id, r.sender, r.phone, r.text) for r in replies] == [
        (acme.id, "12345", PHONE, "Bye"),
        (acme.id, "12345", PHONE, "Bye"),
    ]
    # every reply stored, the account's own and the one nobody owns
    page = (await acme.http.get("/inbound")).json()
    assert [(i["text"], i["keyword"], i["action"]) for i in page["items"]] == [
        ("STOP", None, None),  # not from a number: stored, no keyword acts
        ("quit", "QUIT", "opt_out"),
        ("STOP", "STOP", "opt_out"),
        (" Stop ", "STOP", "opt_out"),
        ("Hello there", None, None),
    ]
    async with api.db.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM inbound_messages WHERE account_id IS NULL")
            == 1
        )

    # A campaign leaves the opted-out number out.
    err = error(
        await acme.http.post(
            "/campaigns",
            json={"name": "After STOP", "sender": "12345", "message": "Hi", "to": [PHONE]},
        ),
        400,
        "no_recipients",
    )
    assert err["details"]["blacklisted"] == [PHONE]

    # START takes it off where its opt-out put it, never where the account did.
    await other.http.post("/senders", json={"address": "12345"})
    await other.http.post("/blacklist", json={"phones": [PHONE]})
    for message in mo("start", destination="12345"):
        await service.receive("sim", message)
    assert (await acme.http.get("/blacklist")).json()["total"] == 1  # +44... stays
    assert (await shared.http.get("/blacklist")).json()["total"] == 0
    assert [e["source"] for e in (await other.http.get("/blacklist")).json()["items"]] == ["api"]


LONG_GREEK = "Καλημέρα! Θα ήθελα να αλλάξω την ώρα του ραντεβού μου σε αύριο στις 10:00. 😀 " * 2


async def test_concatenated_parts_become_one_message_from_any_bind_and_across_restarts(
    api: Api,
) -> None:
    acme = await api.account("acme", senders=("12345",))
    parts = mo(LONG_GREEK)
    assert len(parts) == 3 and parts[0].data_coding == 8
    await inbound(api).receive("bind-a", parts[2])
    await inbound(api).receive("bind-b", parts[0])  # another bind, another process
    await inbound(api).receive("bind-b", parts[0])  # sent again: its answer was lost
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbound_parts") == 2
        assert await conn.fetchval("SELECT count(*) FROM inbound_messages") == 0
    await inbound(api).receive("bind-a", parts[1])  # herald restarted in between
    (stored,) = (await acme.http.get("/inbound")).json()["items"]
    assert stored["text"] == LONG_GREEK
    assert (stored["parts"], stored["missing_parts"], stored["bind"]) == (3, 0, "bind-a")
    assert (stored["from"], stored["phone"], stored["to"]) == ("306948530920", PHONE, "12345")
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbound_parts") == 0

    gsm = "Hello {world}, this is a long reply to check that GSM-7 parts come together. " * 3
    parts = mo(gsm, source="306948530921")
    assert len(parts) == 2 and parts[0].data_coding == 0
    # every part at once, each on its own connection: one message, not none and not two
    await asyncio.gather(*(inbound(api).receive(f"bind-{i}", p) for i, p in enumerate(parts)))
    newest = (await acme.http.get("/inbound")).json()["items"][0]
    assert (newest["text"], newest["parts"]) == (gsm, 2)


async def test_parts_that_never_complete_are_stored_after_their_wait(api: Api) -> None:
    acme = await api.account("acme", senders=("12345",))
    parts = mo(LONG_GREEK)
    service = inbound(api, parts_ttl=600)
    await service.receive("sim", parts[0])
    await service.receive("sim", parts[2])
    api.clock.advance(599)
    assert await service.expire() == 0
    api.clock.advance(2)
    assert await service.expire() == 1
    (stored,) = (await acme.http.get("/inbound")).json()["items"]
    assert (stored["parts"], stored["missing_parts"]) == (2, 1)
    assert stored["text"] and stored["text"].startswith("Καλημέρα")
    assert await service.expire() == 0
    # the straggler, if it comes, starts a message of its own: kept, not lost
    await service.receive("sim", parts[1])
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbound_parts") == 1


async def test_binary_replies_keep_their_bytes(api: Api) -> None:
    acme = await api.account("acme", senders=("12345",))
    pdu = Pdu(
        CommandId.DELIVER_SM,
        source_addr="306948530920",
        destination_addr="12345",
        data_coding=4,
        short_message=b"\x00\xffbinary",
    )
    await inbound(api).receive("sim", inbound_message(pdu))
    (stored,) = (await acme.http.get("/inbound")).json()["items"]
    assert (stored["text"], stored["data_coding"]) == (None, 4)
    async with api.db.acquire() as conn:
        assert await conn.fetchval("SELECT payload FROM inbound_messages") == b"\x00\xffbinary"


async def test_inbound_callbacks_and_the_listing_filters(api: Api) -> None:
    acme = await api.account("acme", senders=("12345", "Herald"))
    senders = {s["address"]: s["id"] for s in (await acme.http.get("/senders")).json()}
    r = await acme.http.post(
        f"/senders/{senders['12345']}", json={"inbound_callback": "http://127.0.0.1:9/replies"}
    )
    assert r.status_code == 200 and r.json()["inbound_callback"] == "http://127.0.0.1:9/replies"
    error(
        await acme.http.post(f"/senders/{senders['12345']}", json={"inbound_callback": "ftp://x"}),
        422,
        "invalid_request",
    )
    error(
        await acme.http.post(
            f"/senders/{senders['12345']}", json={"inbound_callback": "http://10.1.2.3/x"}
        ),
        422,
        "invalid_request",
    )
    other = await api.account("other", senders=("12345",))
    error(
        await other.http.post(f"/senders/{senders['12345']}", json={"inbound_callback": None}),
        404,
        "sender_not_found",
    )

    service = inbound(api)
    for text, source, destination in [
        ("one", "306948530920", "12345"),
        ("two", "306948530921", "12345"),
        ("three", "306948530920", "Herald"),
    ]:
        for message in mo(text, source, destination):
            await service.receive("sim", message)
        api.clock.advance(60)
    async with api.db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT account_id, url, kind, body FROM callback_outbox ORDER BY id"
        )
    assert [(r["account_id"], r["url"], r["kind"]) for r in rows] == [
        (acme.id, "http://127.0.0.1:9/replies", "inbound"),
        (acme.id, "http://127.0.0.1:9/replies", "inbound"),
    ]
    body = rows[0]["body"]
    assert (body["event"], body["text"], body["from"], body["phone"]) == (
        "inbound",
        "one",
        "306948530920",
        PHONE,
    )
    assert (body["sender"], body["sender_id"], body["parts"]) == ("12345", senders["12345"], 1)

    def texts(page: dict) -> list[str]:
        return [i["text"] for i in page["items"]]

    assert texts((await acme.http.get("/inbound")).json()) == ["three", "two", "one"]
    assert texts((await acme.http.get("/inbound", params={"sender": "Herald"})).json()) == ["three"]
    by_phone = await acme.http.get("/inbound", params={"phone": "0030 694 853 0920"})
    assert texts(by_phone.json()) == ["three", "one"]
    first = (await acme.http.get("/inbound", params={"limit": 2})).json()
    rest = (await acme.http.get("/inbound", params={"cursor": first["next_cursor"]})).json()
    assert texts(first) + texts(rest) == ["three", "two", "one"] and rest["next_cursor"] is None
    start = api.clock() - timedelta(seconds=150)
    window = {
        "received_from": start.isoformat(),
        "received_before": (start + timedelta(seconds=60)).isoformat(),
    }
    assert texts((await acme.http.get("/inbound", params=window)).json()) == ["two"]
    assert texts((await other.http.get("/inbound")).json()) == ["two", "one"]
    error(await acme.http.get("/inbound", params={"sender": "Nope"}), 404, "sender_not_found")
    error(await acme.http.get("/inbound", params={"cursor": "zz"}), 400, "invalid_cursor")
