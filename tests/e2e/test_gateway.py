"""End to end inside one process: campaign -> expansion -> dispatcher -> session -> simulator
-> receipts -> tracker -> PostgreSQL, with the real Daemon composition and real peers."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from herald.campaigns.runs import CampaignRunner
from herald.delivery.dispatcher import FIRST_CLAIM
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.simulator import Delay, Simulator, personality_settings
from herald.store.db import Database
from herald.text import encode_message
from tests.support.factories import (
    add_recipients,
    greek_mobiles,
    make_account,
    make_campaign,
    make_sender,
)
from tests.support.gateway import bind_to, gateway_config, running


async def campaign(
    database: Database, numbers: list[str], template: str = "Hello", **options: Any
) -> tuple[int, int]:
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign_id = await make_campaign(conn, account.id, sender, template, **options)
        await add_recipients(conn, campaign_id, numbers)
    return account.id, campaign_id


async def statuses(database: Database, campaign_id: int) -> dict[str, int]:
    async with database.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM messages WHERE campaign_id = $1 GROUP BY status",
            campaign_id,
        )
    return {r["status"]: r["n"] for r in rows}


async def test_a_campaign_is_sent_and_every_receipt_recorded(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    numbers = greek_mobiles(300)
    long_text = "Long message with an euro sign € " * 12
    parts = encode_message(long_text).segments
    assert parts == 3
    async with Simulator() as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        account, first = await campaign(database, numbers[:200])
        other, second = await campaign(database, numbers[200:], long_text)
        async with running(config) as herald:
            # The bind's session settings reach its session as configured, in one piece.
            assert herald.sessions["sim"].settings is config.bind("sim").session
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=first, account_id=account)
            await herald.runner.start_run(campaign_id=second, account_id=other)
            await sim.wait_for_receipts_acked(200 + 100 * parts)
            assert herald.maintenance is not None
            await herald.maintenance.tick()
        assert await statuses(database, first) == {"delivered": 200}
        assert await statuses(database, second) == {"delivered": 100}
        records = sim.submits
        assert len(records) == 200 + 100 * parts
        assert all(r.status == 0 and r.registered_delivery == 1 for r in records)
        completed = [r.message_text for r in records if r.udh and r.message_text]
        assert completed == [long_text] * 100  # every multipart message reassembles
        assert {r.message_text for r in records if not r.udh} == {"Hello"}
        assert sim.duplicates() == {}
    async with database.acquire() as conn:
        done = await conn.fetch("SELECT status FROM campaigns ORDER BY id")
    assert [r["status"] for r in done] == ["completed", "completed"]


async def test_later_receipts_and_notifications_settle_single_and_multipart_messages(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # As from a carrier: ENROUTE, then the final state 20-80 ms after the response, so the
    # receipts land in later write batches than their parts' results (apply_receipts, not the
    # fold), single-part messages settle in that statement and multipart ones from their parts.
    long_text = "Long message with an euro sign € " * 12  # three parts
    numbers = greek_mobiles(120)
    async with Simulator(
        intermediate="ENROUTE",
        receipt_delay=Delay.uniform(0.02, 0.08),
        outcomes=(("DELIVRD", 0.8), ("UNDELIV", 0.2)),
        seed=11,
    ) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        account, single = await campaign(database, numbers[:80])
        other, multi = await campaign(database, numbers[80:], long_text)
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=single, account_id=account)
            await herald.runner.start_run(campaign_id=multi, account_id=other)
            await sim.wait_for_receipts_acked(2 * (80 + 40 * 3))  # ENROUTE and final, per part
            assert herald.maintenance is not None
            await herald.maintenance.tick()
    async with database.acquire() as conn:
        rows = await conn.fetch("""
            SELECT m.campaign_id, m.status, m.reason, array_agg(p.state ORDER BY p.seq) AS parts
            FROM messages m JOIN parts p ON p.message_id = m.id GROUP BY m.id""")
        assert await conn.fetchval("SELECT count(*) FROM orphan_receipts") == 0
    assert len(rows) == 120
    for row in rows:
        assert set(row["parts"]) <= {"delivered", "undeliverable"}  # every part's final state
        if "undeliverable" in row["parts"]:
            assert (row["status"], row["reason"]) == ("failed", "undeliverable")
        else:
            assert (row["status"], row["reason"]) == ("delivered", None)
    outcomes = {(r["campaign_id"], r["status"]) for r in rows}
    assert outcomes == {(c, s) for c in (single, multi) for s in ("delivered", "failed")}


async def test_a_receipt_is_acknowledged_without_waiting_for_the_flush_interval(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # A carrier that sends its next receipt only once the last one is answered (a deliver
    # window of 1, as many SMSCs have), results flushed once a minute and no sweeps to
    # force a flush: each receipt is stored and acknowledged within the receipt flush
    # interval, not the minute.
    async with Simulator(deliver_window=1) as sim:
        config = gateway_config(
            db_dsn,
            tmp_path,
            [bind_to(sim)],
            dispatcher={"flush_interval": 60.0},
            tracker={"sweep_interval": 60.0},
        )
        account, campaign_id = await campaign(database, greek_mobiles(30))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(30, timeout=20)
            assert herald.maintenance is not None
            await herald.maintenance.tick()
    assert await statuses(database, campaign_id) == {"delivered": 30}


async def test_early_receipts_in_another_id_base_still_match(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # Receipts before their submit_sm_resp, text only, hex ids in responses and decimal in
    # receipts (the Nexmo case): orphans at first, matched when the ids land.
    async with Simulator(
        early_receipt=True, receipt_format="text", receipt_id_format="dec", id_case="upper"
    ) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim, id_mode="submit_hex_dlr_dec")])
        account, campaign_id = await campaign(database, greek_mobiles(150))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(150)
            assert herald.maintenance is not None
            await herald.maintenance.tick()
    assert await statuses(database, campaign_id) == {"delivered": 150}
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orphan_receipts") == 0


async def test_errors_and_failed_receipts_end_in_the_right_states(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator(
        errors=((0x0B, 0.2),), outcomes=(("DELIVRD", 0.7), ("UNDELIV", 0.3)), seed=7
    ) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        account, campaign_id = await campaign(database, greek_mobiles(200))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_submits(200)
            accepted = sim.stats.submits_by_status.get(0, 0)
            await sim.wait_for_receipts_acked(accepted)
            assert herald.maintenance is not None
            await herald.maintenance.tick()
    counts = await statuses(database, campaign_id)
    assert counts["rejected"] == 200 - accepted
    assert counts["delivered"] + counts["failed"] == accepted
    assert counts["failed"] > 0 and counts["rejected"] > 0
    async with database.acquire() as conn:
        reasons = {
            r["status"]: r["reason"]
            for r in await conn.fetch(
                "SELECT DISTINCT status, reason FROM messages WHERE status <> 'delivered'"
            )
        }
    assert reasons == {"rejected": "ESME_RINVDSTADR", "failed": "undeliverable"}


async def test_temporary_errors_are_retried_then_fail(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator(errors=((0x08, 1.0),)) as sim:  # ESME_RSYSERR on every submit
        config = gateway_config(
            db_dsn, tmp_path, [bind_to(sim)], dispatcher={"max_attempts": 3, "retry_base": 0.05}
        )
        account, campaign_id = await campaign(database, greek_mobiles(5))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_submits(15)  # 5 messages x 3 attempts
        # Leaving `running` shuts herald down gracefully: in-flight submits drain and every
        # result is flushed before it returns.
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT reason, attempts FROM messages")
    assert {(r["reason"], r["attempts"]) for r in rows} == {("retries_exhausted:ESME_RSYSERR", 3)}
    assert sim.stats.submits == 15


async def test_no_response_means_unknown_never_resent(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator(submit_answer="none") as sim:  # a black hole
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim, response_timeout=0.3)])
        account, campaign_id = await campaign(database, greek_mobiles(20))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_submits(20)
        assert sim.stats.submits == 20  # policy mark_unknown: nothing sent twice
    counts = await statuses(database, campaign_id)
    assert counts == {"unknown": 20}


@pytest.mark.parametrize(
    ("max_in_flight", "leased", "capacity"),
    # automatic: the bind's pipeline, four claims of 64 (a claim is the window, 4, but at least
    # 64); twice that may be leased (answered parts wait for their results to be stored)
    [(0, 4 * 64, 2 * 4 * 64), (12, 12, 12)],
)
async def test_what_is_leased_at_once_is_the_pipeline_or_max_in_flight(
    database: Database, db_dsn: str, tmp_path: Path, max_in_flight: int, leased: int, capacity: int
) -> None:
    # A carrier that holds its answers: the window (4) fills and stays full, so what the
    # dispatcher leased meanwhile is exactly its pipeline. (A carrier that never answers, with
    # a short response timeout, raced the test on a slow machine: the timeouts retire the
    # bind and its queued parts go back.)
    async with Simulator() as sim:
        config = gateway_config(
            db_dsn,
            tmp_path,
            [bind_to(sim, window=4, response_timeout=60.0)],
            dispatcher={"max_in_flight": max_in_flight},
        )
        account, campaign_id = await campaign(database, greek_mobiles(300))
        async with running(config) as herald:
            sim.hold_answers()
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_submits(4)
            session = herald.sessions["sim"]
            # Leased counts, one database round trip apart, until the pipeline is leased and
            # handed to the bind: beyond the window, parts wait in its queue, not on the wire.
            seen: list[int] = []
            deadline = asyncio.get_running_loop().time() + 10
            while (not seen or seen[-1] < leased or session.queued < leased - 4) and (
                asyncio.get_running_loop().time() < deadline
            ):
                async with database.acquire() as conn:
                    seen.append(
                        await conn.fetchval(
                            "SELECT count(*) FROM messages WHERE status = 'sending'"
                        )
                    )
            assert seen[-1] == leased and max(seen) == leased
            assert (session.in_flight, session.queued) == (4, leased - 4)
            assert sim.stats.submits == 4
            async with httpx.AsyncClient(base_url=herald.api_url) as api:
                metrics = (await api.get("/metrics")).text
            assert f"herald_leased_parts {leased:.1f}" in metrics
            assert f"herald_lease_capacity {capacity:.1f}" in metrics
            assert sim.release_answers() == 4  # the stop need not wait for a timeout


async def test_sending_from_idle_starts_with_a_small_claim_then_full_ones(
    database: Database, db_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # At window 1000 a claim is 500 parts; the first submit_sm waits for the first claim's
    # rows, so from idle the first is FIRST_CLAIM while the other claim loop takes 500.
    caplog.set_level(logging.DEBUG, logger="herald.delivery.dispatcher")
    async with Simulator() as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim, window=1000, burst=1000)])
        account, campaign_id = await campaign(database, greek_mobiles(1500))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(1500)
    claims = [
        int(m.group(1))
        for r in caplog.records
        if (m := re.match(r"claimed (\d+) messages", r.getMessage())) is not None
    ]
    # The two loops' first claims run at once, so either may be logged first.
    assert sum(claims) == 1500
    assert FIRST_CLAIM in claims[:2] and max(claims) == 500, claims


async def test_a_receipt_read_with_its_response_is_stored_with_it_not_parked(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # A carrier writes each receipt right after its submit_sm_resp, so both often come in
    # one chunk. The result reaches the writer through the submit's done callback, a turn
    # later than the receipt read with it: a flush in between parked the receipt as an
    # orphan (6 of these 2,000, and 38-70 of 4,000 in other runs, before receipts were
    # buffered from a callback too).
    async with Simulator(personality_settings("carrier")) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim, window=10, burst=10)])
        account, campaign_id = await campaign(database, greek_mobiles(2000))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(2000, timeout=60)
            assert herald.metrics is not None
            assert herald.metrics.orphan_receipts == 0
    assert await statuses(database, campaign_id) == {"delivered": 2000}


@pytest.mark.parametrize("policy", ["mark_unknown", "resend"])
async def test_a_slow_bind_keeps_its_queued_parts_leased(
    database: Database, db_dsn: str, tmp_path: Path, policy: str
) -> None:
    # A bind at 10 submit_sm/s with a 3 s lease: the claim leases all 60 messages at once
    # (a pipeline of 256), and the last wait about 6 s in the bind's queue. Their leases
    # expired meanwhile and the lease sweep took them back while they were still to be sent:
    # they ended unknown though delivered (mark_unknown), or were queued again to go out a
    # second time (resend). The dispatcher now renews its leases while it holds them.
    async with Simulator() as sim:
        config = gateway_config(
            db_dsn,
            tmp_path,
            [bind_to(sim, window=1, rate=10.0, burst=1)],
            dispatcher={"lease_seconds": 3.0, "unknown_policy": policy},
        )
        account, campaign_id = await campaign(database, greek_mobiles(60))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(60, timeout=30)
        assert sim.stats.duplicate_messages == 0
        assert sim.stats.submits == 60
    assert await statuses(database, campaign_id) == {"delivered": 60}


async def test_the_window_keeps_going_while_results_cannot_be_stored(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # The store stalls: every part row is locked by another transaction, so the writer's
    # flush (which updates parts) waits. Slots are freed by the carrier's answers, not by the
    # commit of the results: the bind goes on sending until what is leased reaches the
    # capacity (twice the pipeline: four claims of 64 at window 4), never beyond it. Before,
    # a window's worth went out and the bind then waited for the store.
    capacity = 2 * 4 * 64
    async with Simulator() as sim:
        config = gateway_config(
            db_dsn,
            tmp_path,
            [bind_to(sim, window=4)],
            # the run below is seen only when the test says so (NOTIFY), parts locked
            dispatcher={"queue_refresh_interval": 600.0, "poll_interval": 600.0},
        )
        account, campaign_id = await campaign(database, greek_mobiles(capacity + 100))
        async with running(config):
            runner = CampaignRunner(
                database,
                config,
                Router(config.routes, lambda _: True),
                clock=lambda: datetime.now(UTC),
                metrics=Metrics(),
            )
            await runner.start_run(campaign_id=campaign_id, account_id=account)
            async with database.acquire() as blocker, blocker.transaction():
                await blocker.execute("SELECT 1 FROM parts FOR UPDATE")
                async with database.acquire() as conn:
                    await conn.execute("NOTIFY herald_dispatch")
                await sim.wait_for_submits(capacity)
                async with database.acquire() as conn:
                    leased = await conn.fetchval(
                        "SELECT count(*) FROM messages WHERE status = 'sending'"
                    )
                assert leased == capacity  # the results wait for the store...
                assert sim.stats.submits == capacity  # ...and nothing more went out
            await sim.wait_for_receipts_acked(capacity + 100, timeout=30)
    assert await statuses(database, campaign_id) == {"delivered": capacity + 100}


async def test_carrier_throttling_slows_the_bind_and_loses_nothing(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator(throttle_rate=400, throttle_burst=20) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim, rate=5000, window=50)])
        account, campaign_id = await campaign(database, greek_mobiles(400))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(400, timeout=30)
            stats = herald.sessions["sim"]
            assert stats.rate < 5000  # AIMD lowered the bind's rate
        assert sim.stats.throttled > 0
        assert sim.duplicates() == {}
    assert await statuses(database, campaign_id) == {"delivered": 400}


async def test_failover_to_the_healthy_bind_of_a_route(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator() as sim:
        good = bind_to(sim, name="good")
        refused = bind_to(sim, name="refused", password="wrong")
        config = gateway_config(db_dsn, tmp_path, [refused, good])
        account, campaign_id = await campaign(database, greek_mobiles(60))
        async with running(config, bound=1) as herald:
            assert herald.sessions["refused"].state == "refused"
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(60)
            sent = {name: s.stats.segments_sent for name, s in herald.sessions.items()}
    assert sent == {"refused": 0, "good": 60}
    assert await statuses(database, campaign_id) == {"delivered": 60}


async def test_quiet_hours_defer_to_the_window_end_in_local_time(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    night = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 03:00 in Athens
    async with Simulator() as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        account, campaign_id = await campaign(database, greek_mobiles(10), respect_quiet_hours=True)
        async with running(config, clock=lambda: night) as herald:
            assert herald.runner is not None
            result = await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            assert result.count == 10
            assert herald.maintenance is not None
            await herald.maintenance.tick()
        assert sim.stats.submits == 0
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT status, not_before FROM messages")
    assert {r["status"] for r in rows} <= {"queued", "deferred"}
    # 08:00 in Athens (UTC+2 in November) is 06:00 UTC.
    assert {r["not_before"] for r in rows} == {datetime(2026, 11, 22, 6, 0, tzinfo=UTC)}


async def test_a_stop_reply_blacklists_the_number_for_the_senders_account(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator() as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        account, _ = await campaign(database, greek_mobiles(1))
        async with running(config):
            await sim.send_mo("306948530999", "Herald", "stop")
            await sim.wait_for(lambda s: s.mo_acked >= 1, 10.0, "MO acknowledged")
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT account_id, phone, source FROM blacklist")
    assert [tuple(r) for r in rows] == [(account, "+306948530999", "opt_out")]
