"""Maintenance: lease recovery by policy, receipt timeouts, completion, scheduled runs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, DispatcherConfig, RouteConfig
from herald.delivery.maintenance import Maintenance
from herald.delivery.router import Router
from herald.delivery.writer import Writer
from herald.errors import HeraldError
from herald.metrics import Metrics
from herald.store.db import Database
from herald.store.send_rows import PartOutcome, Receipt, StatusMove
from tests.support.claims import claim_due
from tests.support.factories import (
    add_recipients,
    greek_mobiles,
    make_account,
    make_campaign,
    make_sender,
)

pytestmark = pytest.mark.usefixtures("counters_kept")

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
UnknownPolicy = Literal["mark_unknown", "resend"]  # DispatcherConfig.unknown_policy


def config(policy: UnknownPolicy = "mark_unknown") -> Config:
    return Config(
        binds=(
            BindConfig.model_validate(
                {"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}
            ),
        ),
        routes=(RouteConfig(name="all", binds=("a",)),),
        dispatcher=DispatcherConfig(unknown_policy=policy),
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def prepared(
    database: Database, count: int, clock: Clock, cfg: Config, scheduled_at: datetime | None = None
) -> tuple[CampaignRunner, int, int]:
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign = await make_campaign(conn, account.id, sender, "Hi", scheduled_at=scheduled_at)
        await add_recipients(conn, campaign, greek_mobiles(count))
    runner = CampaignRunner(
        database, cfg, Router(cfg.routes, lambda _: True), clock=clock, metrics=Metrics()
    )
    return runner, account.id, campaign


async def statuses(database: Database) -> dict[str, int]:
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def test_dead_leases_are_recovered_by_policy(database: Database) -> None:
    cases: tuple[tuple[UnknownPolicy, str], ...] = (
        ("mark_unknown", "unknown"),
        ("resend", "queued"),
    )
    for policy, lost_status in cases:
        async with database.acquire() as conn:
            await conn.execute(
                "TRUNCATE messages, parts, batches, batch_counts, campaigns,"
                " campaign_recipients CASCADE"  # parts and recipients have no foreign keys
            )
        clock, cfg = Clock(), config(policy)
        runner, account, campaign = await prepared(database, 4, clock, cfg)
        await runner.start_run(campaign_id=campaign, account_id=account)
        async with database.acquire() as conn:
            lease = T0 + timedelta(seconds=60)
            claimed = await claim_due(conn, "dead", 4, T0, lease)
            assert len(claimed) == 4  # then the process died with them leased
        maintenance = Maintenance(database, runner, config=cfg, clock=clock, metrics=Metrics())
        report = await maintenance.tick()
        assert (report.requeued, report.lost) == (0, 0)  # the lease is still valid
        clock.now = T0 + timedelta(seconds=61)
        report = await maintenance.tick()
        # Leased messages may have gone out: unknown, or sent again under 'resend'.
        if policy == "mark_unknown":
            assert (report.requeued, report.lost) == (0, 4)
        else:
            assert (report.requeued, report.lost) == (4, 0)
        assert await statuses(database) == {lost_status: 4}
        async with database.acquire() as conn:
            parts = {r["state"] for r in await conn.fetch("SELECT state FROM parts")}
        # Made unknown, their parts are too (they were left 'pending'); queued, still pending.
        assert parts == ({"unknown"} if policy == "mark_unknown" else {"pending"})


async def test_unreceipted_messages_expire_and_batches_complete(database: Database) -> None:
    clock, cfg = Clock(), config()
    runner, account, campaign = await prepared(database, 2, clock, cfg)
    await runner.start_run(campaign_id=campaign, account_id=account)
    writer = Writer(database, metrics=Metrics())
    async with database.acquire() as conn:
        claimed = await claim_due(conn, "n", 2, T0, T0 + timedelta(seconds=60))
        ids = sorted(r["id"] for r in claimed)
    for i in ids:
        writer.record_part(PartOutcome(i, 1, "submitted", f"S{i}", f"S{i}", 0, T0.timestamp(), "a"))
        writer.set_status(StatusMove(i, "sending", "sent", None, None, T0.timestamp()))
    assert await writer.flush()
    maintenance = Maintenance(database, runner, config=cfg, clock=clock, metrics=Metrics())
    report = await maintenance.tick()
    assert (report.expired, report.batches_completed) == (0, 0)
    clock.now = T0 + timedelta(
        hours=cfg.tracker.validity_hours + cfg.tracker.receipt_margin_hours, seconds=1
    )
    completed: list[int] = []

    async def on_completed(conn: object, rows: Sequence[Any]) -> None:
        completed.extend(r["id"] for r in rows)

    maintenance = Maintenance(
        database,
        runner,
        config=cfg,
        clock=clock,
        metrics=Metrics(),
        on_campaigns_completed=on_completed,
    )
    report = await maintenance.tick()
    assert (report.expired, report.batches_completed, report.campaigns_completed) == (2, 1, 1)
    assert completed == [campaign]
    async with database.acquire() as conn:
        parts = await conn.fetch("SELECT state FROM parts")
        reasons = await conn.fetch("SELECT DISTINCT reason FROM messages")
    assert {p["state"] for p in parts} == {"expired"}
    assert [r["reason"] for r in reasons] == ["no_final_receipt"]


async def test_scheduled_campaigns_start_when_due_and_failures_are_reported(
    database: Database,
) -> None:
    clock, cfg = Clock(), config()
    runner, account, _ = await prepared(
        database, 3, clock, cfg, scheduled_at=T0 + timedelta(minutes=5)
    )
    failures: list[tuple[int, str]] = []

    async def failed(campaign_id: int, account_id: int, exc: HeraldError) -> None:
        failures.append((campaign_id, type(exc).__name__))

    woken = []
    maintenance = Maintenance(
        database,
        runner,
        config=cfg,
        clock=clock,
        metrics=Metrics(),
        on_scheduled_run_failed=failed,
        wake_dispatcher=lambda: woken.append(1),
    )
    assert (await maintenance.tick()).runs_started == 0
    clock.now = T0 + timedelta(minutes=5)
    assert (await maintenance.tick()).runs_started == 1
    assert await statuses(database) == {"queued": 3}
    # A campaign that cannot run (no recipients) is reported, not retried silently.
    async with database.acquire() as conn:
        sender = await make_sender(conn, account, "Other")
        empty = await make_campaign(conn, account, sender, "x", scheduled_at=T0)
    await maintenance.tick()
    assert failures == [(empty, "NoRecipientsError")]


async def test_a_restarted_node_recovers_its_own_leases_at_once(database: Database) -> None:
    clock, cfg = Clock(), config()
    runner, account, campaign = await prepared(database, 3, clock, cfg)
    await runner.start_run(campaign_id=campaign, account_id=account)
    async with database.acquire() as conn:
        lease = T0 + timedelta(minutes=10)  # far from expired
        claimed = await claim_due(conn, "node-1", 3, T0, lease)
        assert len(claimed) == 3
        other = await claim_due(conn, "node-2", 3, T0, lease)
    assert other == []
    maintenance = Maintenance(database, runner, config=cfg, clock=clock, metrics=Metrics())
    assert (await maintenance.recover("node-2")).lost == 0  # not ours
    report = await maintenance.recover("node-1")
    assert (report.requeued, report.lost) == (0, 3)
    assert await statuses(database) == {"unknown": 3}


@pytest.mark.raw_rows
async def test_completion_is_announced_to_listeners(database: Database) -> None:
    clock, cfg = Clock(), config()
    runner, account, campaign = await prepared(database, 1, clock, cfg)
    await runner.start_run(campaign_id=campaign, account_id=account)
    events: asyncio.Queue[str] = asyncio.Queue()

    def on_event(*args: object) -> None:
        events.put_nowait(str(args[3]))

    async with database.acquire() as listener:
        await listener.add_listener("herald_events", on_event)
        async with database.acquire() as conn:
            await conn.execute("UPDATE messages SET status = 'rejected'")
        maintenance = Maintenance(database, runner, config=cfg, clock=clock, metrics=Metrics())
        await maintenance.tick()
        payload = json.loads(await asyncio.wait_for(events.get(), 5))
        await listener.remove_listener("herald_events", on_event)
    assert payload == {"batches_completed": [1], "campaigns_completed": [campaign]}


async def test_reminders_go_out_their_lead_time_before_the_run(database: Database) -> None:
    clock, cfg = Clock(), config()
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign = await make_campaign(
            conn,
            account.id,
            sender,
            "Hi",
            scheduled_at=T0 + timedelta(hours=2),
            reminder={"numbers": ["+306948530999"], "lead_seconds": 3600},
        )
        await add_recipients(conn, campaign, greek_mobiles(3))
    runner = CampaignRunner(
        database, cfg, Router(cfg.routes, lambda _: True), clock=clock, metrics=Metrics()
    )
    maintenance = Maintenance(database, runner, config=cfg, clock=clock, metrics=Metrics())
    assert (await maintenance.tick()).reminders_sent == 0
    clock.now = T0 + timedelta(hours=1)
    report = await maintenance.tick()
    assert (report.reminders_sent, report.runs_started) == (1, 0)
    assert (await maintenance.tick()).reminders_sent == 0
    clock.now = T0 + timedelta(hours=2)
    assert (await maintenance.tick()).runs_started == 1
    assert await statuses(database) == {"queued": 4}


async def test_orphans_end_as_duplicates_or_logged_unmatched(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock, cfg = Clock(), config()
    runner, account, campaign = await prepared(database, 1, clock, cfg)
    await runner.start_run(campaign_id=campaign, account_id=account)
    metrics = Metrics()
    writer = Writer(database, metrics=metrics)
    async with database.acquire() as conn:
        [claimed] = await claim_due(conn, "n", 1, T0, T0 + timedelta(seconds=60))
    at = T0.timestamp()
    writer.record_part(PartOutcome(claimed["id"], 1, "submitted", "d1", "D1", 0, at, "a"))
    writer.set_status(StatusMove(claimed["id"], "sending", "sent", None, None, at), parts=1)
    writer.add_receipt(Receipt("a", "D1", "delivered", 2, None, None, at + 3, {"id": "d1"}))
    # The carrier sends the receipt again (our answer was lost), and a receipt for an id
    # herald never sent arrives: both are parked, acknowledged, not applied.
    writer.add_receipt(Receipt("a", "D1", "delivered", 2, None, None, at + 9, {"id": "d1"}))
    writer.add_receipt(Receipt("a", "NOPE", "delivered", 2, None, None, at + 9, {"id": "nope"}))
    assert await writer.flush()
    assert metrics.orphan_receipts == 2
    maintenance = Maintenance(database, runner, config=cfg, clock=clock, metrics=metrics)
    clock.now = T0 + timedelta(seconds=30)
    report = await maintenance.tick()
    # A part submitted before it may not have its result stored yet: not judged before a
    # lease has passed.
    assert (report.duplicate_receipts, report.orphans_dropped) == (0, 0)
    clock.now = T0 + timedelta(seconds=9 + cfg.dispatcher.lease_seconds + 1)
    report = await maintenance.tick()
    assert (report.duplicate_receipts, report.orphans_dropped) == (1, 0)
    clock.now = T0 + timedelta(hours=cfg.tracker.orphan_ttl_hours, seconds=10)
    with caplog.at_level(logging.WARNING, logger="herald.delivery.maintenance"):
        report = await maintenance.tick()
    assert (report.duplicate_receipts, report.orphans_dropped) == (0, 1)
    assert (metrics.duplicate_receipts, metrics.unmatched_receipts) == (1, 1)
    [line] = [r.getMessage() for r in caplog.records if "unmatched receipt" in r.getMessage()]
    assert "id NOPE" in line and '"nope"' in line
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orphan_receipts") == 0
