"""Carriers that reuse message ids: a restarted SMSC whose counter starts over, and one whose
short counter wraps. Every message ends final with its own receipt, and every receipt is
accounted for: applied, or counted. Receipts come before their submit_sm_resp, so many reach
herald before their part's id is stored, while an older part with that id is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from herald.daemon import Running
from herald.simulator import Delay, Simulator, personality_settings
from herald.store.db import Database
from tests.e2e.test_gateway import campaign, statuses
from tests.support.factories import greek_mobiles
from tests.support.gateway import bind_to, gateway_config, running
from tests.support.processes import batch_events, wait_for_batch

# The receipt first, the response 1-5 ms later: often in another flush than the receipt.
EARLY: dict[str, Any] = {"early_receipt": True, "latency": Delay.uniform(0.001, 0.005), "seed": 5}


async def accounted_for(database: Database, herald: Running, messages: int) -> None:
    """Once herald has stopped (its last flush done): every message delivered, each part
    with its own receipt, no receipt left waiting, none counted as duplicate or unmatched."""
    assert herald.metrics is not None
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
        receipted = await conn.fetchval("SELECT count(*) FROM parts WHERE receipt_at IS NOT NULL")
        waiting = await conn.fetchval("SELECT count(*) FROM orphan_receipts")
    assert {r["status"]: r["n"] for r in rows} == {"delivered": messages}
    assert (receipted, waiting) == (messages, 0)
    m = herald.metrics
    assert (m.duplicate_receipts, m.unmatched_receipts) == (0, 0)


async def test_a_restarted_smsc_reusing_ids_loses_no_receipt(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    numbers = greek_mobiles(3000)
    first = Simulator(**EARLY)
    await first.start()
    assert first.address is not None
    port = first.address[1]
    bind = bind_to(first, reconnect_min=0.05, reconnect_max=0.2)
    config = gateway_config(db_dsn, tmp_path, [bind])
    account, before = await campaign(database, numbers[:1500])
    other, after = await campaign(database, numbers[1500:])
    async with running(config) as herald, batch_events(database) as events:
        assert herald.runner is not None
        run = await herald.runner.start_run(campaign_id=before, account_id=account)
        await first.wait_for_receipts_acked(1500, timeout=60)
        # Each receipt comes before its submit_sm_resp: stopping the SMSC as soon as the last
        # receipt is acknowledged could cut off the last responses (those parts would rightly
        # end unknown). The run completes once every response is stored too.
        await wait_for_batch(events, run.batch_id, within=60)
        await first.stop()
        # The SMSC restarts on the same port: its counter, and so its ids, start over.
        async with Simulator(port=port, **EARLY) as second:
            await second.wait_for_binds(1, timeout=30)
            run = await herald.runner.start_run(campaign_id=after, account_id=other)
            await second.wait_for_receipts_acked(1500, timeout=60)
            # As above: this SMSC too stops before herald does, so its last responses must be in.
            await wait_for_batch(events, run.batch_id, within=60)
            reused = {r.message_id for r in first.submits} & {r.message_id for r in second.submits}
            assert len(reused) == 1500
    await accounted_for(database, herald, 3000)
    assert await statuses(database, after) == {"delivered": 1500}


async def test_a_wrapping_id_counter_loses_no_receipt(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # Ids from a counter of 1,000: each comes back three times in one run.
    async with Simulator(personality_settings("id_reuse", **EARLY)) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        account, campaign_id = await campaign(database, greek_mobiles(3000))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(3000, timeout=90)
            assert len({r.message_id for r in sim.submits}) == 1000
    await accounted_for(database, herald, 3000)
