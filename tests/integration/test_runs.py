"""Starting a run: expansion into messages and parts, credit, and all-or-nothing failure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from herald.campaigns.audience import check_recipients
from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, RouteConfig
from herald.delivery.router import Router
from herald.errors import (
    InsufficientBalanceError,
    NoRecipientsError,
    NotFoundError,
    StateError,
)
from herald.metrics import Metrics
from herald.store.db import Database
from herald.store.queries import queries
from tests.support.factories import (
    add_recipients,
    greek_mobiles,
    make_account,
    make_campaign,
    make_sender,
)

pytestmark = pytest.mark.usefixtures("counters_kept")

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

CONFIG = Config(
    binds=(
        BindConfig.model_validate(
            {"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}
        ),
        BindConfig.model_validate(
            {
                "name": "tr",
                "host": "127.0.0.1",
                "port": 2776,
                "system_id": "x",
                "national": ("tr",),
                "concat": "udh16",
            }
        ),
    ),
    routes=(
        RouteConfig(name="turkey", prefixes=("90",), binds=("tr",)),
        RouteConfig(name="greece", prefixes=("30",), binds=("a",)),
    ),
)


def runner(db: Database, metrics: Metrics | None = None) -> CampaignRunner:
    return CampaignRunner(
        db,
        CONFIG,
        Router(CONFIG.routes, healthy=lambda _: True),
        clock=lambda: NOW,
        metrics=metrics or Metrics(),
    )


async def setup(
    database: Database, template: str = "Hello there", credit: int = 1000, **campaign: Any
) -> tuple[int, int]:
    async with database.acquire() as conn:
        account = await make_account(conn, credit=credit)
        sender = await make_sender(conn, account.id)
        campaign_id = await make_campaign(conn, account.id, sender, template, **campaign)
    return account.id, campaign_id


async def test_a_run_expands_every_recipient_once_with_reasons(database: Database) -> None:
    account, campaign = await setup(
        database,
        "Hi %Name%, your code is [~code]",
        fallback_values={"code": "none", "name": "friend"},
    )
    async with database.acquire() as conn:
        await add_recipients(
            conn,
            campaign,
            [
                ("+306948530920", "Eleni", {"code": "A1"}),
                "00306948530920",  # the same number in another form: sent once
                "+30 694 853 0921",
                "not a number",
                "+306948530922",
            ],
        )
        await conn.execute(queries.add_to_blacklist, account, ["+306948530922"], "api")
    metrics = Metrics()
    result = await runner(database, metrics).start_run(campaign_id=campaign, account_id=account)
    assert (result.count, result.rejected, result.skipped) == (2, 2, 0)
    assert result.rejected_reasons == {"invalid_format": 1, "blacklisted": 1}
    assert result.segments == result.credit_used == 2
    async with database.acquire() as conn:
        rows = await conn.fetch(
            "SELECT phone, status, reason, text, part_count, route FROM messages"
            " WHERE batch_id = $1 ORDER BY phone",
            result.batch_id,
        )
        statuses = {r["phone"]: (r["status"], r["reason"]) for r in rows}
        assert statuses == {
            "+306948530920": ("queued", None),
            "+306948530921": ("queued", None),
            "+306948530922": ("rejected", "blacklisted"),
            "not a number": ("rejected", "invalid_format"),
        }
        texts = {r["phone"]: r["text"] for r in rows}
        assert texts["+306948530920"] == "Hi Eleni, your code is A1"
        assert texts["+306948530921"] == "Hi friend, your code is none"
        batch = await conn.fetchrow("SELECT * FROM batches WHERE id = $1", result.batch_id)
        assert (batch["status"], batch["messages_expected"], batch["segments_expected"]) == (
            "sending",
            4,
            2,
        )
        assert await conn.fetchval("SELECT credit FROM accounts WHERE id = $1", account) == 998
        assert (
            await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", campaign) == "running"
        )
        assert await conn.fetchval("SELECT count(*) FROM parts") == 2
    assert metrics.messages["queued"] == 2 and metrics.expanded_recipients == 5


async def test_missing_label_without_fallback_rejects_only_that_recipient(
    database: Database,
) -> None:
    account, campaign = await setup(database, "Code [~code]")
    async with database.acquire() as conn:
        await add_recipients(
            conn, campaign, [("+306948530920", None, {"code": "A1"}), ("+306948530921", None, {})]
        )
    result = await runner(database).start_run(campaign_id=campaign, account_id=account)
    assert (result.count, result.rejected_reasons) == (1, {"missing_label:code": 1})


async def test_multipart_parts_are_stored_with_the_route_profile(database: Database) -> None:
    account, campaign = await setup(database, "Ş" * 156)  # Turkish locking shift: 2 parts
    async with database.acquire() as conn:
        await add_recipients(conn, campaign, ["+905321234567", "+306948530920"])
    result = await runner(database).start_run(campaign_id=campaign, account_id=account)
    async with database.acquire() as conn:
        rows = {
            r["route"]: r
            for r in await conn.fetch(
                "SELECT m.route, m.encoding, m.part_count,"
                " array_agg(p.short_message ORDER BY p.seq) AS parts"
                " FROM messages m JOIN parts p ON p.message_id = m.id GROUP BY m.id"
            )
        }
    turkish, greek = rows["turkey"], rows["greece"]
    assert (turkish["encoding"], turkish["part_count"]) == ("gsm7", 2)
    assert turkish["parts"][0][:2] == bytes([0x09, 0x08])  # UDHL 9: 16-bit ref + locking IE
    assert (greek["encoding"], greek["part_count"]) == ("ucs2", 3)
    assert result.segments == 5


async def test_insufficient_balance_leaves_nothing_behind(database: Database) -> None:
    account, campaign = await setup(database, credit=2)
    async with database.acquire() as conn:
        await add_recipients(conn, campaign, greek_mobiles(3))
    with pytest.raises(InsufficientBalanceError) as err:
        await runner(database).start_run(campaign_id=campaign, account_id=account)
    assert (err.value.needed, err.value.available) == (3, 2)
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM batches") == 0
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0
        assert await conn.fetchval("SELECT credit FROM accounts WHERE id = $1", account) == 2
        assert (
            await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", campaign)
            == "scheduled"
        )


async def test_no_recipients_and_wrong_states_are_refused(database: Database) -> None:
    account, campaign = await setup(database, ignore_invalid_numbers=True)
    r = runner(database)
    with pytest.raises(NoRecipientsError):
        await r.start_run(campaign_id=campaign, account_id=account)
    async with database.acquire() as conn:
        await add_recipients(conn, campaign, ["garbage", "+306948530920"])
    result = await r.start_run(campaign_id=campaign, account_id=account)
    assert (result.count, result.skipped) == (1, 1)
    with pytest.raises(StateError, match="'running'"):
        await r.start_run(campaign_id=campaign, account_id=account)
    with pytest.raises(NotFoundError):
        await r.start_run(campaign_id=campaign, account_id=account + 1000)


async def test_contacts_and_groups_are_resolved_when_the_run_starts(database: Database) -> None:
    account, campaign = await setup(database, "Hi %Name%")
    async with database.acquire() as conn:
        c1 = await conn.fetchval(queries.upsert_contact, account, "+306948530930", "Ann", {})
        c2 = await conn.fetchval(queries.upsert_contact, account, "+306948530931", "Bob", {})
        group = await conn.fetchval(queries.create_group, account, "vip")
        await conn.execute(queries.add_group_members, group, [c1, c2])
        await conn.execute("INSERT INTO campaign_groups VALUES ($1, $2)", campaign, group)
        await conn.execute("INSERT INTO campaign_contacts VALUES ($1, $2)", campaign, c1)
    result = await runner(database).start_run(campaign_id=campaign, account_id=account)
    assert result.count == 2  # Ann appears twice (contact and group member): sent once
    async with database.acquire() as conn:
        texts = sorted(r["text"] for r in await conn.fetch("SELECT text FROM messages"))
    assert texts == ["Hi Ann", "Hi Bob"]


async def test_a_large_audience_streams_in_chunks(database: Database) -> None:
    account, campaign = await setup(database, "Sale today", credit=100_000)
    async with database.acquire() as conn:
        await add_recipients(conn, campaign, greek_mobiles(12_345))
    result = await runner(database).start_run(campaign_id=campaign, account_id=account)
    assert result.count == 12_345
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM parts") == 12_345


async def test_runs_queue_their_callbacks_in_the_same_transaction(database: Database) -> None:
    account, campaign = await setup(
        database,
        callback_url="http://127.0.0.1:9/messages",
        campaign_callback_url="http://127.0.0.1:9/campaigns",
    )
    async with database.acquire() as conn:
        await add_recipients(conn, campaign, ["+306948530920", "garbage"])
    await runner(database).start_run(campaign_id=campaign, account_id=account)
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT kind, url, body FROM callback_outbox ORDER BY id")
    kinds = [(r["kind"], r["url"]) for r in rows]
    assert kinds == [
        ("campaign", "http://127.0.0.1:9/campaigns"),
        ("message", "http://127.0.0.1:9/messages"),
    ]
    assert rows[0]["body"]["event"] == "campaign.running"
    assert rows[1]["body"]["status"] == "rejected"


async def test_a_reminder_goes_to_the_test_numbers_once(database: Database) -> None:
    account, campaign = await setup(
        database,
        "Hi %Name%, code [~code]",
        fallback_values={"code": "XYZ"},
        scheduled_at=datetime(2026, 11, 23, tzinfo=UTC),
        reminder={"numbers": ["+306948530999"], "lead_seconds": 3600},
    )
    async with database.acquire() as conn:
        await add_recipients(conn, campaign, greek_mobiles(5))
    r = runner(database)
    result = await r.start_reminder(campaign_id=campaign, account_id=account)
    assert result is not None and result.count == 1
    assert await r.start_reminder(campaign_id=campaign, account_id=account) is None  # once
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT phone, text FROM messages")
        status = await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", campaign)
    assert [(row["phone"], row["text"]) for row in rows] == [
        ("+306948530999", "Hi <Name>, code XYZ")
    ]
    assert status == "scheduled"  # the run itself is still to come


async def test_a_reminder_uses_the_name_fallback_and_stays_out_of_progress(
    database: Database,
) -> None:
    from herald.campaigns.progress import campaign_progress

    account, campaign = await setup(
        database,
        "Hi %Name%, see you",
        fallback_values={"name": "pal"},
        scheduled_at=datetime(2026, 11, 23, tzinfo=UTC),
        reminder={"numbers": ["+306948530999"], "lead_seconds": 3600},
    )
    async with database.acquire() as conn:
        await add_recipients(conn, campaign, greek_mobiles(2))
    r = runner(database)
    await r.start_reminder(campaign_id=campaign, account_id=account)
    await r.start_run(campaign_id=campaign, account_id=account)
    async with database.acquire() as conn:
        texts = {
            row["phone"]: row["text"]
            for row in await conn.fetch("SELECT phone, text FROM messages")
        }
        kinds = [row["kind"] for row in await conn.fetch("SELECT kind FROM batches ORDER BY id")]
        progress = await campaign_progress(conn, campaign)
    assert texts["+306948530999"] == "Hi pal, see you"  # not "Hi <Name>, see you"
    assert kinds == ["reminder", "run"]
    # The campaign expects its two recipients; the test number is not one of them.
    assert progress["messages"]["expected"] == 2 and progress["messages"]["queued"] == 2


async def test_a_run_in_its_intakes_transaction_takes_the_intakes_verdicts(
    database: Database,
) -> None:
    # Send now checks each number once: the run reuses what the request's intake found
    # (campaigns/audience.py), under the same region and mobiles_only.
    numbers = ["+30 694 853 0920", "0030 694 853 0921", "not a number", "+306948530922"]
    intake = check_recipients(numbers, [], default_region=None, max_recipients=10)
    assert intake.checked["0030 694 853 0921"] == ("+306948530921", None)
    assert intake.checked["not a number"] == (None, "invalid_format")
    # A verdict the run could not reach itself shows it is taken, not recomputed.
    intake.checked["+306948530922"] = (None, "not_mobile")
    account, campaign = await setup(database)
    async with database.acquire() as conn, conn.transaction():
        await add_recipients(conn, campaign, numbers)
        result = await runner(database).start_run(
            campaign_id=campaign, account_id=account, conn=conn, checked=intake.checked
        )
        rows = await conn.fetch(
            "SELECT phone, status, reason FROM messages WHERE batch_id = $1", result.batch_id
        )
    assert {r["phone"]: (r["status"], r["reason"]) for r in rows} == {
        "+306948530920": ("queued", None),
        "+306948530921": ("queued", None),
        "+306948530922": ("rejected", "not_mobile"),
        "not a number": ("rejected", "invalid_format"),
    }
