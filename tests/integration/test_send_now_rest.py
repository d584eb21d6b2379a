"""A send-now run stores its first messages with its request and the rest right after
(herald/campaigns/runs.py, migration 0015): sendable at once, complete only once all are
stored, and nothing lost when herald stops in between or the campaign is stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from herald.campaigns.expansion import Expander
from herald.campaigns.lifecycle import Lifecycle
from herald.campaigns.run_result import Rest
from herald.campaigns.runs import FIRST, CampaignRunner
from herald.delivery.completion import complete_finished
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store import campaigns as campaign_store
from herald.store.campaigns import RecipientRow
from herald.store.db import Database
from tests.integration.test_runs import CONFIG, setup
from tests.support.factories import greek_mobiles

pytestmark = pytest.mark.usefixtures("counters_kept")

# Past REST_GRACE after any batch this test starts: maintenance's view of a stopped process.
LATER = datetime.now(UTC) + timedelta(hours=1)


def runner(db: Database, wakes: list[int] | None = None) -> CampaignRunner:
    return CampaignRunner(
        db,
        CONFIG,
        Router(CONFIG.routes, healthy=lambda _: True),
        clock=lambda: LATER,
        metrics=Metrics(),
        wake=lambda: wakes.append(1) if wakes is not None else None,
    )


def audience(count: int) -> list[str]:
    """`count` numbers, and past FIRST (in the rest) an invalid one and a repeat."""
    numbers = greek_mobiles(count)
    numbers[FIRST + 200] = "not a number"
    numbers[FIRST + 300] = numbers[5]  # the same number again: one message for it
    return numbers


async def start(
    db: Database, count: int, credit: int = 100_000, *, given: bool = False
) -> tuple[int, int, list[Rest]]:
    """A send-now run of `count` recipients, its request's transaction committed. `given`:
    as POST /v1/campaigns runs it, the recipients handed to the run, which stores them
    while it expands them; otherwise stored first and read back."""
    account, campaign = await setup(db, credit=credit, callback_url="https://example.com/cb")
    later: list[Rest] = []
    rows = [RecipientRow("number", n, None, {}, None) for n in audience(count)]
    async with db.acquire() as conn, conn.transaction():
        if not given:
            await campaign_store.add_recipients(conn, campaign, rows)
        result = await runner(db).start_run(
            campaign_id=campaign,
            account_id=account,
            conn=conn,
            recipients=rows if given else None,
            later=later,
        )
    assert (result.count, result.rejected, result.segments) == (count - 2, 1, count - 2)
    async with db.acquire() as conn:  # stored either way, in the order given
        stored = await conn.fetch(
            "SELECT phone_raw FROM campaign_recipients WHERE campaign_id = $1 ORDER BY id",
            campaign,
        )
    assert [r["phone_raw"] for r in stored] == [r.phone_raw for r in rows]
    return account, campaign, later


async def batch(db: Database, campaign: int) -> dict:
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT b.*, (SELECT count(*) FROM messages m WHERE m.batch_id = b.id) AS stored,"
            " (SELECT count(DISTINCT phone) FROM messages m WHERE m.batch_id = b.id) AS phones,"
            " (SELECT count(*) FROM callback_outbox) AS callbacks,"
            " (SELECT credit FROM accounts a WHERE a.id = b.account_id) AS credit"
            " FROM batches b WHERE b.campaign_id = $1",
            campaign,
        )
    return dict(row)


@pytest.mark.raw_rows  # its stored messages are made final by hand, not their counters
@pytest.mark.parametrize("given", [False, True], ids=["read back", "given"])
async def test_the_first_messages_are_stored_with_the_request_and_the_rest_after(
    database: Database, given: bool
) -> None:
    _, campaign, later = await start(database, 7000, given=given)
    (rest,) = later
    # Read back, a chunk per cursor fetch; given, a chunk per CHUNK messages. The repeated
    # number has no message.
    assert [len(c.messages) for c in rest.chunks] == ([5000, 999] if given else [3999, 2000])
    first = await batch(database, campaign)
    # Committed: the first FIRST messages are sendable, the whole run counted and paid for.
    assert (first["status"], first["rest_pending"], first["stored"]) == ("sending", True, FIRST)
    assert (first["messages_expected"], first["segments_expected"]) == (6999, 6998)
    assert first["credit"] == 100_000 - 6998
    assert first["callbacks"] == 0  # the rejected number is in the rest: its callback too
    async with database.acquire() as conn:
        # Every stored message final: the batch still does not complete.
        await conn.execute("UPDATE messages SET status = 'delivered', done_at = now()")
        assert await complete_finished(conn, None) == ([], [])
    wakes: list[int] = []
    await runner(database, wakes).store_rests(later)
    after = await batch(database, campaign)
    assert (after["rest_pending"], after["stored"], after["phones"]) == (False, 6999, 6999)
    assert (after["messages_expected"], after["credit"]) == (6999, 100_000 - 6998)
    assert after["callbacks"] == 1 and len(wakes) == 2  # woken after each chunk
    async with database.acquire() as conn:
        ids = await conn.fetchrow(
            "SELECT min(id), max(id) FROM messages WHERE batch_id = $1", after["id"]
        )
    assert (after["first_message_id"], after["last_message_id"]) == (ids[0], ids[1])
    # Storing it again (a retry, say) adds nothing.
    await runner(database).store_rests(later)
    assert (await batch(database, campaign))["stored"] == 6999


@pytest.mark.parametrize("given", [False, True], ids=["read back", "given"])
async def test_a_rest_left_when_herald_stopped_is_expanded_again(
    database: Database, given: bool
) -> None:
    # Given, the recipients were stored by the run itself: maintenance reads them back.
    _, campaign, later = await start(database, 2500, given=given)
    r = runner(database)
    assert await r.finish_rests() == 1  # as maintenance's tick, REST_GRACE later
    after = await batch(database, campaign)
    # Each recipient once, the invalid one rejected once, paid as planned.
    assert (after["rest_pending"], after["stored"], after["phones"]) == (False, 2499, 2499)
    assert (after["messages_expected"], after["segments_expected"]) == (2499, 2498)
    assert (after["credit"], after["credit_used"]) == (100_000 - 2498, 2498)
    assert after["callbacks"] == 1
    async with database.acquire() as conn:
        ids = await conn.fetchrow(
            "SELECT min(id), max(id) FROM messages WHERE batch_id = $1", after["id"]
        )
    assert after["first_message_id"] <= ids[0] and after["last_message_id"] >= ids[1]
    # The request's own storing, had it come after all, finds nothing left to do.
    await r.store_rests(later)
    assert (await batch(database, campaign))["stored"] == 2499
    assert await r.finish_rests() == 0


async def test_a_rest_is_left_to_its_request_during_the_grace(database: Database) -> None:
    await start(database, 1500)
    early = CampaignRunner(
        database,
        CONFIG,
        Router(CONFIG.routes, healthy=lambda _: True),
        clock=lambda: datetime.now(UTC),
        metrics=Metrics(),
    )
    assert await early.finish_rests() == 0


async def test_a_stop_before_the_rest_is_stored_stops_it_too(database: Database) -> None:
    account, campaign, later = await start(database, 2500)
    r = runner(database)
    lifecycle = Lifecycle(database, clock=lambda: LATER, runner=r, wake=lambda: None)
    assert await lifecycle.stop(account, campaign) == 2499 - 1  # the rejected one stays so
    await r.store_rests(later)  # too late: stored (and stopped) by the stop
    after = await batch(database, campaign)
    assert (after["status"], after["rest_pending"], after["stored"]) == ("stopped", False, 2499)
    assert after["credit"] == 100_000  # nothing sent: everything refunded


async def test_a_rest_that_cannot_be_stored_is_left_to_maintenance(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _, campaign, later = await start(database, 2500)
    chunk = later[0].chunks[0]
    broken = list(chunk.messages[0])
    broken[4] = None  # no phone: the COPY fails, as it would with the database gone
    chunk.messages[0] = tuple(broken)
    r = runner(database)
    await r.store_rests(later)  # the request still succeeds: its run is committed
    assert "maintenance will store it" in caplog.text
    assert (await batch(database, campaign))["rest_pending"] is True
    assert await r.finish_rests() == 1
    after = await batch(database, campaign)
    assert (after["rest_pending"], after["stored"], after["credit_used"]) == (False, 2499, 2498)


async def test_a_run_that_fails_while_its_recipients_are_copied_leaves_nothing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipients' COPY runs on the request's connection while the rest is expanded: an
    error in the expansion waits for the COPY, so the transaction rolls back cleanly."""
    account, campaign = await setup(database, credit=100_000)
    rows = [RecipientRow("number", n, None, {}, None) for n in greek_mobiles(3000)]
    calls = 0
    add = Expander.add

    def failing_add(self: Expander, *args: Any, **kwargs: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls == FIRST + 500:  # the recipients' COPY started at FIRST
            raise RuntimeError("expansion failed")
        return add(self, *args, **kwargs)

    monkeypatch.setattr(Expander, "add", failing_add)
    async with database.acquire() as conn:
        with pytest.raises(RuntimeError, match="expansion failed"):
            async with conn.transaction():
                await runner(database).start_run(
                    campaign_id=campaign,
                    account_id=account,
                    conn=conn,
                    recipients=rows,
                    later=[],
                )
        # The connection is usable and nothing of the run was kept.
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM campaign_recipients) AS recipients,"
            " (SELECT count(*) FROM messages) AS messages,"
            " (SELECT count(*) FROM parts) AS parts"
        )
    assert dict(counts) == {"recipients": 0, "messages": 0, "parts": 0}
