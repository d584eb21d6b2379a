"""The batched writer: results, statuses, receipts (early ones too), settling, failed flushes."""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, RouteConfig
from herald.delivery.router import Router
from herald.delivery.writer import StatusChange, Writer
from herald.metrics import Metrics
from herald.store import dispatch as store
from herald.store.db import Database
from herald.store.send_rows import PartOutcome, Receipt, StatusMove
from tests.support.claims import claim_due
from tests.support.factories import add_recipients, make_account, make_campaign, make_sender

pytestmark = pytest.mark.usefixtures("counters_kept")

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CONFIG = Config(
    binds=(
        BindConfig.model_validate(
            {"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}
        ),
    ),
    routes=(RouteConfig(name="all", binds=("a",)),),
)


async def claimed(database: Database, texts: list[str]) -> list[int]:
    """One campaign per text to one number each, run and claimed: message ids, in order."""
    ids = []
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
    runner = CampaignRunner(
        database,
        CONFIG,
        Router(CONFIG.routes, lambda _: True),
        clock=lambda: NOW,
        metrics=Metrics(),
    )
    for i, text in enumerate(texts):
        async with database.acquire() as conn:
            campaign = await make_campaign(conn, account.id, sender, text)
            await add_recipients(conn, campaign, [f"+30694853{i:04d}"])
        await runner.start_run(campaign_id=campaign, account_id=account.id)
    async with database.acquire() as conn:
        rows = await claim_due(conn, "node", 100, NOW, NOW + timedelta(minutes=1))
    ids = sorted({r["id"] for r in rows})  # one row per part
    assert len(ids) == len(texts)
    return ids


def accepted(message_id: int, seq: int, smsc_id: str, at: datetime = NOW) -> PartOutcome:
    return PartOutcome(message_id, seq, "submitted", smsc_id, smsc_id, 0, at.timestamp(), "a")


def sent(message_id: int, at: datetime = NOW) -> StatusMove:
    return StatusMove(message_id, "sending", "sent", None, None, at.timestamp())


def receipt(
    smsc_id: str, state: str = "delivered", code: int = 2, at: datetime = NOW + timedelta(seconds=3)
) -> Receipt:
    return Receipt("a", smsc_id, state, code, "000", None, at.timestamp(), {"id": smsc_id})


async def status_of(database: Database, message_id: int) -> tuple[str, str | None]:
    async with database.acquire() as conn:
        row = await conn.fetchrow("SELECT status, reason FROM messages WHERE id = $1", message_id)
    return row["status"], row["reason"]


async def test_results_then_receipts_settle_messages(database: Database) -> None:
    changes: list[StatusChange] = []

    async def on_changes(conn: object, batch: Sequence[StatusChange]) -> None:
        changes.extend(batch)

    metrics = Metrics()
    writer = Writer(database, metrics=metrics, on_changes=on_changes)
    m1, m2 = await claimed(database, ["one", "two"])
    writer.record_part(accepted(m1, 1, "ID1"))
    writer.record_part(accepted(m2, 1, "ID2"))
    writer.set_status(sent(m1))
    writer.set_status(sent(m2))
    assert await writer.flush()
    assert await status_of(database, m1) == ("sent", None)
    acks = [
        writer.add_receipt(receipt("ID1")),
        writer.add_receipt(receipt("ID2", "undeliverable", 5)),
    ]
    assert not any(a.done() for a in acks)  # acknowledged only once stored
    assert await writer.flush()
    assert all(a.done() for a in acks)
    assert await status_of(database, m1) == ("delivered", None)
    assert await status_of(database, m2) == ("failed", "undeliverable")
    assert [(c.message_id, c.old, c.new, c.reason) for c in changes] == [
        (m1, "sending", "sent", None),
        (m2, "sending", "sent", None),
        (m1, "sent", "delivered", None),
        (m2, "sent", "failed", "undeliverable"),
    ]
    # Single-part messages follow their receipt in apply_receipts itself, reported with the
    # receipt's time and their campaign (the callbacks hook needs it).
    assert {c.at for c in changes[2:]} == {NOW + timedelta(seconds=3)}
    assert None not in {c.campaign_id for c in changes[2:]}
    assert metrics.messages["delivered"] == 1 and metrics.receipt_latency.counts != [0] * 15


async def test_the_flush_interval_counts_from_the_first_row(database: Database) -> None:
    now = [0.0]
    writer = Writer(database, metrics=Metrics(), flush_interval=3600, clock=lambda: now[0])
    (m1,) = await claimed(database, ["waited"])
    stored = asyncio.Event()
    writer.set_status(sent(m1), on_commit=stored.set)
    now[0] = 3600.0  # the row has waited a whole interval already (behind a long flush, say)
    stop = asyncio.Event()
    task = asyncio.ensure_future(writer.run(stop))
    await asyncio.wait_for(stored.wait(), 60)  # written at once, not an hour from now
    assert await status_of(database, m1) == ("sent", None)
    stop.set()
    await task


async def test_a_receipt_cuts_the_wait_short_even_mid_interval(database: Database) -> None:
    writer = Writer(database, metrics=Metrics(), flush_interval=3600, receipt_flush_interval=0)
    (m1,) = await claimed(database, ["acked"])
    writer.record_part(accepted(m1, 1, "A1"))
    writer.set_status(sent(m1), parts=1)
    stop = asyncio.Event()
    task = asyncio.ensure_future(writer.run(stop))
    await asyncio.sleep(0)  # the loop is now waiting out the hour for the result rows
    stored = writer.add_receipt(receipt("A1"))  # the carrier waits for this one's answer
    await asyncio.wait_for(stored, 60)
    assert await status_of(database, m1) == ("delivered", None)
    stop.set()
    await task


async def test_a_receipt_before_its_submit_result_is_parked_then_matched(
    database: Database,
) -> None:
    metrics = Metrics()
    writer = Writer(database, metrics=metrics)
    (m1,) = await claimed(database, ["early"])
    ack = writer.add_receipt(receipt("EARLY"))
    assert await writer.flush()
    assert ack.done() and metrics.orphan_receipts == 1
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orphan_receipts") == 1
    writer.record_part(accepted(m1, 1, "EARLY"))
    writer.set_status(sent(m1))
    assert await writer.flush()
    assert await status_of(database, m1) == ("delivered", None)
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orphan_receipts") == 0


async def test_multipart_waits_for_every_part_and_fails_on_one(database: Database) -> None:
    writer = Writer(database, metrics=Metrics())
    m1, m2 = await claimed(database, ["x" * 200, "y" * 200])  # two parts each
    for m in (m1, m2):
        for s in (1, 2):
            writer.record_part(accepted(m, s, f"{m}-{s}"))
        writer.set_status(sent(m))
    writer.add_receipt(receipt(f"{m1}-1"))
    writer.add_receipt(receipt(f"{m2}-2", "expired", 3))
    assert await writer.flush()
    assert await status_of(database, m1) == ("sent", None)  # part 2 still waiting
    assert await status_of(database, m2) == ("failed", "expired")  # one part failed finally
    writer.add_receipt(receipt(f"{m1}-2"))
    writer.add_receipt(receipt(f"{m2}-1"))  # too late to change a final message
    assert await writer.flush()
    assert await status_of(database, m1) == ("delivered", None)
    assert await status_of(database, m2) == ("failed", "expired")


async def test_receipts_for_one_part_keep_the_final_state(database: Database) -> None:
    writer = Writer(database, metrics=Metrics())
    (m1,) = await claimed(database, ["dup"])
    writer.record_part(accepted(m1, 1, "D"))
    writer.set_status(sent(m1))
    first = writer.add_receipt(receipt("D", "delivered", 2))
    second = writer.add_receipt(receipt("D", "accepted", 6))  # intermediate after final
    assert await writer.flush()
    assert first.done() and second.done()
    assert await status_of(database, m1) == ("delivered", None)


async def test_a_failed_flush_keeps_its_rows(database: Database) -> None:
    metrics = Metrics()
    writer = Writer(database, metrics=metrics)
    (m1,) = await claimed(database, ["retry"])
    async with database.acquire() as conn:
        # The database refuses writes to parts, as during a failover or a full disk.
        await conn.execute("""
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'database unavailable'; END $$;
            CREATE TRIGGER refuse BEFORE UPDATE ON parts FOR EACH ROW EXECUTE FUNCTION refuse();
        """)
    writer.record_part(accepted(m1, 1, "R"))
    writer.set_status(sent(m1))
    ack = writer.add_receipt(receipt("R"))
    assert not await writer.flush()
    assert metrics.flush_failures == 1 and not ack.done() and writer.buffered == 3
    assert await status_of(database, m1) == ("sending", None)
    async with database.acquire() as conn:
        await conn.execute("DROP TRIGGER refuse ON parts")
    assert await writer.flush()
    assert ack.done()
    assert await status_of(database, m1) == ("delivered", None)


async def test_a_receipt_in_the_same_flush_as_its_result_is_written_once(
    database: Database,
) -> None:
    changes: list[StatusChange] = []

    async def on_changes(conn: object, batch: Sequence[StatusChange]) -> None:
        changes.extend(batch)

    metrics = Metrics()
    writer = Writer(database, metrics=metrics, on_changes=on_changes)
    single, multi, failing = await claimed(database, ["one", "z" * 200, "three"])
    writer.record_part(accepted(single, 1, "S1"))
    writer.record_part(accepted(multi, 1, "M1"))
    writer.record_part(accepted(multi, 2, "M2"))
    writer.record_part(accepted(failing, 1, "F1"))
    # The dispatcher says how many parts each message has: single-part ones settle from
    # their receipt directly; the multipart one is settled from its parts read back.
    writer.set_status(sent(single), parts=1)
    writer.set_status(sent(multi), parts=2)
    writer.set_status(sent(failing), parts=1)
    acks = [writer.add_receipt(receipt(i)) for i in ("S1", "M1", "M2")]
    acks.append(writer.add_receipt(receipt("F1", "rejected", 8)))
    assert await writer.flush()
    assert all(a.done() for a in acks)
    assert await status_of(database, single) == ("delivered", None)
    assert await status_of(database, multi) == ("delivered", None)
    assert await status_of(database, failing) == ("failed", "rejected")
    # Straight to the final status: no 'sent' step written or reported.
    assert sorted((c.message_id, c.old, c.new) for c in changes) == sorted(
        [
            (single, "sending", "delivered"),
            (multi, "sending", "delivered"),
            (failing, "sending", "failed"),
        ]
    )
    async with database.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT state, smsc_id, bind, receipt_state, receipt_error, receipt_at"
            " FROM parts WHERE message_id = $1",
            single,
        )
    assert tuple(row) == ("delivered", "S1", "a", 2, "000", NOW + timedelta(seconds=3))
    # Sent when accepted, though no 'sent' step was written (sent_at stayed empty before).
    async with database.acquire() as conn:
        times = await conn.fetch(
            "SELECT sent_at, done_at FROM messages WHERE id = ANY($1) ORDER BY id",
            [single, multi, failing],
        )
    assert [tuple(t) for t in times] == [(NOW, NOW + timedelta(seconds=3))] * 3
    assert metrics.receipt_latency.counts[bisect_left(metrics.receipt_latency.bounds, 3)] == 4


async def test_the_orphan_sweep_matches_orphans_parked_by_another_process(
    database: Database,
) -> None:
    writer = Writer(database, metrics=Metrics())
    (m1,) = await claimed(database, ["elsewhere"])
    writer.record_part(accepted(m1, 1, "X1"))
    writer.set_status(sent(m1), parts=1)
    assert await writer.flush()  # nothing parked here: this writer stops looking for orphans
    async with database.acquire() as conn:
        # Another herald process bound to the same carrier account got the receipt.
        await store.park_orphan_receipts(conn, [receipt("X1")])
    assert await writer.flush()
    assert await status_of(database, m1) == ("sent", None)
    writer.sweep_orphans()  # maintenance's periodic sweep
    assert await writer.flush()
    assert await status_of(database, m1) == ("delivered", None)


async def test_an_idle_writer_still_runs_the_orphan_sweep(database: Database) -> None:
    writer = Writer(database, metrics=Metrics())
    (m1,) = await claimed(database, ["idle"])
    writer.record_part(accepted(m1, 1, "I1"))
    writer.set_status(sent(m1), parts=1)
    assert await writer.flush()
    async with database.acquire() as conn:
        await store.park_orphan_receipts(conn, [receipt("I1")])
    stop = asyncio.Event()
    flushes = [0]
    original = writer.flush

    async def counted() -> bool:
        flushes[0] += 1
        done = await original()
        stop.set()  # one flush is enough: stop the loop after it
        return done

    writer.flush = counted  # type: ignore[method-assign]
    writer.sweep_orphans()  # nothing buffered: the sweep alone must make it flush
    await asyncio.wait_for(writer.run(stop), 10)
    assert flushes[0] >= 1
    assert await status_of(database, m1) == ("delivered", None)


async def orphans(database: Database) -> list[tuple[str, str]]:
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT canonical_id, state FROM orphan_receipts ORDER BY id")
    return [(r["canonical_id"], r["state"]) for r in rows]


async def test_a_receipt_for_a_reused_id_waits_for_its_own_part(database: Database) -> None:
    # The carrier restarted and gave "X" again: the new part's receipt comes before its
    # result is stored. It used to find the old, final part with that id and be acknowledged
    # without being applied or parked; it must wait for its own part.
    metrics = Metrics()
    writer = Writer(database, metrics=metrics)
    old, new = await claimed(database, ["old", "new"])
    an_hour_ago = NOW - timedelta(hours=1)
    writer.record_part(accepted(old, 1, "X", an_hour_ago))
    writer.set_status(sent(old, an_hour_ago), parts=1)
    writer.add_receipt(receipt("X", at=an_hour_ago + timedelta(seconds=3)))
    assert await writer.flush()
    assert await status_of(database, old) == ("delivered", None)
    ack = writer.add_receipt(receipt("X", "undeliverable", 5))
    assert await writer.flush()
    assert ack.done() and metrics.orphan_receipts == 1
    assert await orphans(database) == [("X", "undeliverable")]
    writer.record_part(accepted(new, 1, "X"))
    writer.set_status(sent(new), parts=1)
    assert await writer.flush()
    assert await status_of(database, new) == ("failed", "undeliverable")
    assert await status_of(database, old) == ("delivered", None)
    assert await orphans(database) == []


async def test_a_stale_orphan_never_lands_on_a_newer_part_with_its_id(
    database: Database,
) -> None:
    writer = Writer(database, metrics=Metrics())
    (m1,) = await claimed(database, ["fresh"])
    # A receipt for "S" that no part waited for, before m1 was ever submitted...
    writer.add_receipt(receipt("S", "undeliverable", 5, at=NOW - timedelta(seconds=10)))
    assert await writer.flush()
    # ...then the carrier gives "S" to m1: the old receipt is not m1's.
    writer.record_part(accepted(m1, 1, "S"))
    writer.set_status(sent(m1), parts=1)
    assert await writer.flush()
    writer.sweep_orphans()
    assert await writer.flush()
    assert await status_of(database, m1) == ("sent", None)
    assert await orphans(database) == [("S", "undeliverable")]
    writer.add_receipt(receipt("S"))  # m1's own
    assert await writer.flush()
    assert await status_of(database, m1) == ("delivered", None)


async def test_two_final_receipts_for_one_id_in_one_flush_are_both_kept(
    database: Database,
) -> None:
    # Two parts hold "Y" (the id came back while the older one still waited): two final
    # receipts for "Y" in one flush are not merged into one. One is applied (to the newest
    # part), the other parked, and the sweep applies it to the part still waiting.
    writer = Writer(database, metrics=Metrics())
    older, newer = await claimed(database, ["older", "newer"])
    writer.record_part(accepted(older, 1, "Y", NOW - timedelta(minutes=1)))
    writer.record_part(accepted(newer, 1, "Y"))
    for m in (older, newer):
        writer.set_status(sent(m), parts=1)
    assert await writer.flush()
    acks = [writer.add_receipt(receipt("Y")), writer.add_receipt(receipt("Y", "expired", 3))]
    assert await writer.flush()
    assert all(a.done() for a in acks)
    assert len(await orphans(database)) == 1
    writer.sweep_orphans()
    assert await writer.flush()
    finals = {(await status_of(database, m))[0] for m in (older, newer)}
    assert finals == {"delivered", "failed"}
    assert await orphans(database) == []
