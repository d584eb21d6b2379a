"""End to end through the real daemon and the simulator (issue 21): a message sent with one
HTTP call reaches the handset with its validity, its callback carries the caller's reference;
replies from the handset (single and multipart, GSM-7 and UCS-2, parts landing on different
binds) are stored before the simulator gets its answer; STOP blacklists, is confirmed by an
automatic reply the blacklist does not stop, and START undoes it."""

from __future__ import annotations

from pathlib import Path

import httpx

from herald.config import InboundConfig
from herald.simulator import Simulator
from herald.store.db import Database
from tests.api.test_callbacks import receiver
from tests.support.factories import make_account, make_sender
from tests.support.gateway import bind_to, gateway_config, running

PHONE = "+306948530920"
HANDSET = "306948530920"
LONG_GREEK = "Καλημέρα! Θα ήθελα να αλλάξω την ώρα του ραντεβού μου σε αύριο στις 10:00. " * 2
LONG_GSM = "Hello {world}, this is a long reply made to check that GSM-7 parts come together. " * 3


async def test_a_message_and_the_replies_to_it(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with database.acquire() as conn:
        account = await make_account(conn, credit=100)
        await make_sender(conn, account.id, "Herald")
        short_code = await make_sender(conn, account.id, "12345", "short_code", 3, 0)
    async with Simulator() as sim, receiver() as (hooks, hook_url):
        config = gateway_config(
            db_dsn,
            tmp_path,
            [bind_to(sim, "one"), bind_to(sim, "two")],  # one carrier account, two binds
            callbacks={"allow_private": ["127.0.0.1/32"]},
            inbound=InboundConfig(auto_replies={"STOP": "You will get no more messages."}),
        )
        async with (
            running(config) as herald,
            httpx.AsyncClient(
                base_url=herald.api_url + "/v1",
                headers={"Authorization": f"Bearer {account.api_key}"},
            ) as api,
        ):
            await api.post(
                f"/senders/{short_code}", json={"inbound_callback": hook_url + "/replies"}
            )
            # --- one message, one call ---------------------------------------------------
            sent = await api.post(
                "/messages",
                json={
                    "to": PHONE,
                    "sender": "Herald",
                    "text": "Your table for two is booked for 20:00",
                    "client_ref": "booking-77",
                    "callback": hook_url + "/messages",
                    "validity": 90,
                },
                headers={"Idempotency-Key": "booking-77"},
            )
            assert sent.status_code == 202, sent.text
            await hooks.wait_for(lambda got: any(r.json["status"] == "delivered" for r in got))
            (submit,) = sim.submits
            assert submit.validity_period == "000000013000000R"  # 90 minutes, relative
            assert (submit.source_addr, submit.destination_addr) == ("Herald", HANDSET)
            delivered = next(r.json for r in hooks.received if r.json["status"] == "delivered")
            assert delivered["client_ref"] == "booking-77" and delivered["campaign_id"] is None
            assert delivered["message_id"] == sent.json()["messages"][0]["id"]

            # --- replies: stored by the time the simulator has its answer -----------------
            # (the simulator deals deliver_sm to its receivers in turn: the parts of one
            # message come on both binds)
            assert await sim.send_mo(HANDSET, "12345", "Can we make it 21:00?") == [0]
            assert await sim.send_mo(HANDSET, "12345", LONG_GREEK) == [0, 0, 0]
            assert await sim.send_mo(HANDSET, "12345", LONG_GSM, concat="sar") == [0, 0]
            page = (await api.get("/inbound")).json()
            assert [(i["text"], i["parts"]) for i in page["items"]] == [
                (LONG_GSM, 2),
                (LONG_GREEK, 3),
                ("Can we make it 21:00?", 1),
            ]
            assert {i["bind"] for i in page["items"]} <= {"one", "two"}
            assert [i["data_coding"] for i in page["items"]] == [0, 8, 0]
            await hooks.wait_for(lambda got: sum(r.path == "/replies" for r in got) == 3)
            replies = [r.json for r in hooks.received if r.path == "/replies"]
            # One callback each; delivered concurrently, so in any order (docs/api.md).
            assert sorted(r["text"] for r in replies) == sorted(
                ["Can we make it 21:00?", LONG_GREEK, LONG_GSM]
            )
            assert {r["event"] for r in replies} == {"inbound"}

            # --- STOP, its confirmation, START ---------------------------------------------
            assert await sim.send_mo(HANDSET, "12345", "stop") == [0]
            blacklist = (await api.get("/blacklist")).json()["items"]
            assert [(e["phone"], e["source"]) for e in blacklist] == [(PHONE, "opt_out")]
            await sim.wait_for(lambda s: s.submits >= 2, what="the automatic reply")
            confirmation = sim.submits[-1]
            assert confirmation.message_text == "You will get no more messages."
            assert (confirmation.source_addr, confirmation.destination_addr) == ("12345", HANDSET)
            refused = await api.post(
                "/messages", json={"to": PHONE, "sender": "Herald", "text": "Promo!"}
            )
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "no_recipients"
            assert await sim.send_mo(HANDSET, "12345", "START") == [0]
            assert (await api.get("/blacklist")).json()["total"] == 0
            metrics = herald.metrics
            assert metrics is not None
            assert dict(metrics.inbound) == {"message": 3, "opt_out": 1, "opt_in": 1}
            assert metrics.inbound_parts == 5 and dict(metrics.auto_replies) == {"sent": 1}
            exposition = metrics.exposition().decode()
            assert 'herald_inbound_total{kind="opt_out"} 1.0' in exposition
