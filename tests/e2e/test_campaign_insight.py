"""Campaign insight through the whole daemon: a campaign with tracked links sent to the
simulator, clicks through a real HTTP client into the daemon's ClickRecorder, `clicked`
callbacks signed and delivered, the report against what the database holds, the export
through `herald campaign export`, and clicks written when the daemon stops."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from herald.cli.main import main as cli
from herald.simulator import Simulator
from herald.store.db import Database
from tests.api.support import serve
from tests.api.test_callbacks import Receiver
from tests.support.factories import greek_mobiles, make_account, make_sender
from tests.support.gateway import bind_to, gateway_config, running

COUNT = 40


async def test_links_reports_and_exports_through_the_daemon(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with database.acquire() as conn:
        account = await make_account(conn)
        await make_sender(conn, account.id, "Herald")
    receiver = Receiver()
    async with (
        serve(receiver) as hooks,
        Simulator(outcomes=(("DELIVRD", 0.75), ("UNDELIV", 0.25)), seed=7) as sim,
    ):
        config = gateway_config(
            db_dsn,
            tmp_path,
            [bind_to(sim)],
            links={"flush_interval": 0.05},
            callbacks={"allow_private": ["127.0.0.1/32"]},  # the receiver is local
        )
        async with running(config) as herald:
            api = httpx.AsyncClient(
                base_url=herald.api_url + "/v1",
                headers={"Authorization": f"Bearer {account.api_key}"},
                timeout=30,
            )
            async with api:
                env = {"HERALD_API_URL": herald.api_url, "HERALD_API_KEY": account.api_key}
                numbers = [arg for number in greek_mobiles(COUNT) for arg in ("--to", number)]
                created = await asyncio.to_thread(
                    CliRunner().invoke,
                    cli,
                    [
                        "campaign",
                        "create",
                        "--json",
                        "--name",
                        "Insight",
                        "--sender",
                        "Herald",
                        "--message",
                        "Sale today: %Link%",
                        *numbers,
                        "--no-quiet-hours",
                        "--track-link-url",
                        "https://shop.example.com/sale",
                        "--track-link-param",
                        "utm_source=sms",
                        "--callback",
                        f"{hooks}/clicked",
                    ],
                    env=env,
                )
                assert created.exit_code == 0, created.output
                campaign = json.loads(created.output)["id"]
                await sim.wait_for_receipts_acked(COUNT)
                assert herald.maintenance is not None
                await herald.maintenance.tick()
                items = (
                    await api.get(f"/campaigns/{campaign}/messages", params={"page_size": 500})
                ).json()["items"]
                links = [re.search(r"/l/([\w-]{12})", m["text"]) for m in items]
                # Links lead to the daemon's own address: no [links] base_url is configured.
                assert all(m["text"].startswith(f"Sale today: {herald.api_url}/l/") for m in items)
                codes = [link[1] for link in links if link]
                assert len(set(codes)) == COUNT

                async with httpx.AsyncClient(base_url=herald.api_url, timeout=10) as phone:
                    for agent in ("Phone/1", "Phone/2"):
                        hop = await phone.get(f"/l/{codes[0]}", headers={"User-Agent": agent})
                        assert hop.status_code == 302
                        assert hop.headers["location"] == (
                            "https://shop.example.com/sale?utm_source=sms"
                        )
                    await receiver.wait_for(
                        lambda got: sum(r.path == "/clicked" for r in got if _clicked(r)) == 2
                    )
                    clicked = [r for r in receiver.received if _clicked(r)]
                    for hook in clicked:
                        expected = hmac.new(
                            account.webhook_secret.encode(), hook.body, hashlib.sha256
                        ).hexdigest()
                        assert hook.headers["x-herald-signature"] == f"sha256={expected}"
                    bodies = sorted((h.json for h in clicked), key=lambda b: b["clicks"])
                    assert [(b["clicks"], b["user_agent"]) for b in bodies] == [
                        (1, "Phone/1"),
                        (2, "Phone/2"),
                    ]
                    assert {b["message_id"] for b in bodies} == {items[0]["id"]}

                    report = (await api.get(f"/campaigns/{campaign}/report")).json()
                    exported = tmp_path / "messages.csv"
                    result = await asyncio.to_thread(
                        CliRunner().invoke,
                        cli,
                        ["campaign", "export", str(campaign), "-o", str(exported)],
                        env=env,
                    )
                    assert result.exit_code == 0, result.output
                    assert f"{COUNT} message(s) written to {exported}" in result.output
                    # A STOP reply opts its sender out: the metric counts it by source.
                    assert await sim.send_mo(items[5]["phone"][1:], "Herald", "STOP") == [0]
                    metrics = (await phone.get("/metrics")).text
                    assert 'herald_opt_outs_total{source="opt_out"} 1.0' in metrics
                    assert 'herald_opt_outs_total{source="opt_out_link"} 0.0' in metrics
                    assert "herald_link_clicks_total 2.0" in metrics
                    # The last click: answered, then the daemon stops before its next write.
                    last = await phone.get(f"/l/{codes[1]}")
                    assert last.status_code == 302
    async with database.acquire() as conn:
        statuses = {
            r["status"]: r["n"]
            for r in await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
        }
        receipted = await conn.fetchval("SELECT count(*) FROM parts WHERE receipt_at IS NOT NULL")
        clicks = await conn.fetch(
            "SELECT m.phone, e.user_agent FROM link_events e JOIN messages m ON m.id = e.message_id"
            " ORDER BY e.id"
        )
        outbox = await conn.fetchval("SELECT count(*) FROM callback_outbox WHERE kind = 'clicked'")
    assert set(statuses) == {"delivered", "failed"} and sum(statuses.values()) == COUNT
    assert {s: n for s, n in report["messages"]["by_status"].items() if n} == statuses
    assert report["delivery_rate"] == round(statuses["delivered"] / COUNT, 4)
    assert report["latency"]["samples"] == receipted == COUNT
    assert [(b["bind"], b["parts"]) for b in report["binds"]] == [
        (f"{sim.settings.system_id}@{sim.address[0]}:{sim.address[1]}", COUNT)
    ]
    assert report["countries"][0]["country"] == "GR"
    assert report["clicks"] == {"links": COUNT, "clicks": 2, "unique": 1, "click_rate": 0.025}
    assert sum(p["sent"] for p in report["timeline"]["points"]) == COUNT
    assert [r["phone"] for r in clicks] == [items[0]["phone"]] * 2 + [items[1]["phone"]]
    assert outbox == 3  # the last click's callback waits in the outbox for the next start
    with exported.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["phone"] for r in rows] == [m["phone"] for m in items]
    assert {r["status"] for r in rows} == set(statuses)
    assert all(r["smsc_message_ids"] for r in rows)
    assert rows[0]["clicks"] == "2" and rows[1]["clicks"] == "0"
    assert not (tmp_path / "messages.csv.part").exists()


def _clicked(received: Any) -> bool:
    return received.headers.get("x-herald-event") == "message.clicked"
