"""The queries of messages one by one and of replies read what a page needs, never a whole
table (checked by EXPLAIN ANALYZE, as tests/integration/test_store_schema.py does)."""

from __future__ import annotations

from herald.store.db import Database
from herald.store.queries import queries
from tests.integration.test_store_schema import (
    add_messages,
    explain_generic,
    make_batch,
    make_batch_in_same_campaign,
    plan_nodes,
    scanned,
)


async def test_a_page_of_the_accounts_messages_reads_only_the_newest_runs(
    database: Database,
) -> None:
    # 200 runs of 100 messages: a page of 50 must read one run or two, not all 20,000.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        for run in range(200):
            if run:
                ids = await make_batch_in_same_campaign(conn, ids, "completed")
            await add_messages(conn, ids, [f"+3469{run:03d}{i:05d}" for i in range(100)])
        other = await make_batch(conn, account_name="other")
        await add_messages(conn, other, [f"+3460{i:08d}" for i in range(5000)])
        await conn.execute(  # as create_batch sets it
            "UPDATE batches b SET account_id = c.account_id FROM campaigns c"
            " WHERE c.id = b.campaign_id"
        )
        await conn.execute("ANALYZE messages; ANALYZE batches")
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.list_account_messages,
            ids["account"],
            None,
            None,
            None,
            None,
            51,
        )
        rows = await conn.fetch(
            queries.list_account_messages, ids["account"], None, None, None, None, 51
        )
        last = rows[-1]
        # the next page, under the generic plan a pooled statement settles on
        generic = await explain_generic(
            conn,
            queries.list_account_messages,
            "bigint, bigint, bigint, text[], text, integer",
            f"{ids['account']}, {ids['batch'] - 1}, {last['id']}, NULL, NULL, 51",
        )
    for page in (plan, generic):
        nodes = plan_nodes(page)
        assert ("Seq Scan", "messages") not in scanned(nodes)
        read = sum(
            n["Actual Rows"] * n["Actual Loops"]
            for n in nodes
            if n.get("Relation Name") == "messages"
        )
        assert read <= 300, read  # the page and the rest of a run or two, of 25,000
    assert len(rows) == 51 and rows[0]["id"] > rows[-1]["id"]
