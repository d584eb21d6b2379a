"""schema.sql is the truth: migrations reproduce it, its CHECKs are the state tables, its rules
hold, and every named query is valid against it."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import get_args

import asyncpg
import pytest

from herald import states
from herald.campaigns.audience import RECIPIENT_SOURCES
from herald.campaigns.exports import COLUMNS
from herald.numbers import SenderKind
from herald.store import dispatch as store
from herald.store.callbacks import CallbackKind
from herald.store.campaigns import CampaignKind, CountKind
from herald.store.contacts import BlacklistSource
from herald.store.db import Database, connect
from herald.store.dispatch import (
    TrafficClass,
    apply_receipts,
    park_orphan_receipts,
    take_matching_orphans,
    take_orphans_for_ids,
    write_results,
)
from herald.store.inbound import InboundAction
from herald.store.links import LinkKind
from herald.store.migrations import migrate
from herald.store.queries import queries, read_sql
from herald.store.runs import LOAD_STATISTICS_TARGET, BatchKind, analyze_after_load
from herald.store.send_rows import PartOutcome, Receipt, StatusMove
from tests.conftest import PgCluster
from tests.integration._catalog import dump_catalog
from tests.support.claims import claim_due

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def test_migrations_reproduce_schema_sql(pg_cluster: PgCluster) -> None:
    from_schema = pg_cluster.create_database(template="template0")
    from_migrations = pg_cluster.create_database(template="template0")
    try:
        conn_a = await connect(pg_cluster.dsn(from_schema))
        conn_b = await connect(pg_cluster.dsn(from_migrations))
        try:
            await conn_a.execute(read_sql("schema.sql"))
            await migrate(conn_b)
            schema, migrated = await dump_catalog(conn_a), await dump_catalog(conn_b)
        finally:
            await conn_a.close()
            await conn_b.close()
    finally:
        pg_cluster.drop_database(from_schema)
        pg_cluster.drop_database(from_migrations)
    tables = {name for name, kind in schema["relations"] if kind == "r"}
    assert {"accounts", "messages", "parts", "orphan_receipts", "callback_outbox"} <= tables
    for kind in schema:
        assert migrated[kind] == schema[kind], f"migrations differ from schema.sql in {kind}"


# (table, column) -> the vocabulary its CHECK must list, from the one place herald declares it.
# Every single-column CHECK with a list of values is here (the test fails on a new one).
CHECKED_VOCABULARIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("campaigns", "status"): states.CAMPAIGN.states,
    ("batches", "status"): states.BATCH.states,
    ("messages", "status"): states.MESSAGE.states,
    ("parts", "state"): states.PART.states,
    ("batch_totals", "status"): states.MESSAGE.states,
    ("batch_part_totals", "state"): states.PART.states,
    ("batch_part_totals", "message_status"): states.MESSAGE.states,
    ("orphan_receipts", "state"): states.RECEIPT_STATES,
    ("callback_outbox", "status"): states.CALLBACK.states,
    ("callback_outbox", "kind"): get_args(CallbackKind),
    ("senders", "kind"): get_args(SenderKind),
    ("blacklist", "source"): get_args(BlacklistSource),
    ("campaign_recipients", "source"): RECIPIENT_SOURCES,
    ("campaigns", "traffic_class"): get_args(TrafficClass),
    ("batches", "kind"): get_args(BatchKind),
    ("batch_counts", "kind"): get_args(CountKind),
    ("batch_counts", "status"): states.MESSAGE.states,
    ("campaign_recipient_counts", "source"): RECIPIENT_SOURCES,
    ("links", "kind"): get_args(LinkKind),
    ("link_events", "kind"): get_args(LinkKind),
    ("campaigns", "kind"): get_args(CampaignKind),
    ("inbound_messages", "action"): get_args(InboundAction),
}


async def test_check_constraints_list_exactly_the_state_tables(database: Database) -> None:
    async with database.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT conrelid::regclass::text AS tbl, a.attname AS col,
                   pg_get_constraintdef(c.oid) AS def
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
            WHERE c.contype = 'c' AND cardinality(c.conkey) = 1
            """
        )
    # `x IN ('a', 'b')` comes back as `x = ANY (ARRAY['a'::text, 'b'::text])`
    checks = {
        (r["tbl"], r["col"]): set(re.findall(r"'(\w+)'::text", r["def"]))
        for r in rows
        if "= ANY (ARRAY[" in r["def"]
    }
    assert set(checks) == set(CHECKED_VOCABULARIES)
    for key, expected in CHECKED_VOCABULARIES.items():
        assert checks[key] == set(expected), key
    assert set(states.RECEIPT_STATES) <= set(states.PART.states)


async def test_every_named_query_is_valid_sql(database: Database) -> None:
    async with database.acquire() as conn:
        for name, sql in queries.items():
            try:
                await conn.prepare(sql)
            except asyncpg.PostgresError as exc:
                pytest.fail(f"query {name}: {exc}")


# --- helpers building a campaign with one batch --------------------------------------------


async def make_account(conn: asyncpg.Connection, name: str = "acme", credit: int = 100) -> int:
    key_hash = hashlib.sha256(name.encode()).digest()
    row = await conn.fetchrow(queries.create_account, name, key_hash, "hk_abcd", "s3cret", credit)
    assert row is not None
    return int(row["id"])


async def make_batch(
    conn: asyncpg.Connection, batch_status: str = "sending", account_name: str = "acme"
) -> dict[str, int]:
    account = await make_account(conn, account_name)
    sender = await conn.fetchval(queries.create_sender, account, "ACME", "alphanumeric", 5, 0)
    campaign = await conn.fetchval(
        queries.create_campaign,
        account,
        "spring",
        sender,
        "Hi %Name%",
        {},
        False,
        False,
        True,
        [],
        None,
        None,
        None,
        None,
        False,
        False,
        "running",
    )
    batch = await conn.fetchrow(queries.create_batch, campaign, "first run", None, "run")
    assert batch is not None
    await conn.execute("UPDATE batches SET status = $2 WHERE id = $1", batch["id"], batch_status)
    return {"account": account, "campaign": campaign, "batch": batch["id"]}


def numbers(count: int, prefix: str = "+346") -> list[str]:
    """`count` distinct numbers: `prefix`, then eight digits."""
    return [f"{prefix}{i:08d}" for i in range(count)]


async def add_messages(
    conn: asyncpg.Connection, ids: dict[str, int], phones: list[str], *, not_before: datetime = NOW
) -> list[int]:
    rows = await conn.fetch(
        """
        INSERT INTO messages (batch_id, campaign_id, account_id, phone, text, encoding,
                              data_coding, esm_class, part_count, status, not_before)
        SELECT $1, $2, $3, phone, 'hello', 'gsm7', 0, 0, 1, 'queued', $5
        FROM unnest($4::text[]) AS phone
        RETURNING id
        """,
        ids["batch"],
        ids["campaign"],
        ids["account"],
        phones,
        not_before,
    )
    added = [r["id"] for r in rows]
    # As expansion does: the batch's id range covers its messages.
    await conn.execute(
        "UPDATE batches SET first_message_id = least(first_message_id, $2),"
        " last_message_id = greatest(last_message_id, $3) WHERE id = $1",
        ids["batch"],
        min(added),
        max(added),
    )
    return added


async def add_parts(
    conn: asyncpg.Connection,
    messages: list[int],
    *,
    per_message: int = 1,
    state: str = "pending",
) -> None:
    await conn.execute(
        "INSERT INTO parts (message_id, seq, short_message, state)"
        " SELECT id, seq, 'hello'::bytea, $2 FROM unnest($1::bigint[]) AS id,"
        " generate_series(1, $3) AS seq",
        messages,
        state,
        per_message,
    )


# --- rules the schema enforces ---------------------------------------------------------------


async def test_credit_never_goes_negative(database: Database) -> None:
    async with database.acquire() as conn:
        account = await make_account(conn, credit=10)
        assert await conn.fetchval(queries.reserve_credit, account, 11) is None
        assert await conn.fetchval(queries.reserve_credit, account, 10) == 0
        with pytest.raises(asyncpg.CheckViolationError, match="accounts_credit_check"):
            await conn.fetchval(queries.add_credit, account, -1)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE accounts SET credit = -5 WHERE id = $1", account)


async def test_a_status_outside_the_state_table_is_refused(database: Database) -> None:
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        [message] = await add_messages(conn, ids, ["+34600000001"])
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE messages SET status = 'lost' WHERE id = $1", message)
        # 'sending' and a lease go together
        with pytest.raises(asyncpg.CheckViolationError, match="messages_check"):
            await conn.execute("UPDATE messages SET status = 'sending' WHERE id = $1", message)


# --- the dispatcher's claim and receipts -----------------------------------------------------


async def test_claim_skips_rows_another_dispatcher_holds(database: Database) -> None:
    lease = NOW + timedelta(seconds=30)
    async with database.acquire() as a, database.acquire() as b:
        ids = await make_batch(a)
        due = await add_messages(a, ids, [f"+3460000{i:04d}" for i in range(10)])
        await add_messages(a, ids, ["+34699999999"], not_before=NOW + timedelta(hours=1))
        paused = await make_batch_in_same_campaign(a, ids, "suspended")
        await add_messages(a, paused, ["+34611111111"])

        async with a.transaction():
            first = await claim_due(a, "d1", 6, NOW, lease)
            second = await claim_due(b, "d2", 100, NOW, lease)
        assert [r["id"] for r in first] == due[:6]  # oldest first
        assert sorted(r["id"] for r in second) == due[6:]  # skipped, not waited for
        assert all(r["attempts"] == 1 for r in [*first, *second])
        assert await claim_due(a, "d3", 100, NOW, lease) == []
        # the suspended batch's queue, even named, gives nothing
        picks = [paused["batch"]], [""], [100]
        assert await a.fetch(queries.claim_due_messages, "d3", *picks, NOW, lease) == []

        later = NOW + timedelta(hours=2)
        [deferred] = await claim_due(a, "d3", 100, later, later)
        assert deferred["phone"] == "+34699999999"
        owners = await a.fetch("SELECT DISTINCT lease_owner FROM messages WHERE status='sending'")
        assert {r["lease_owner"] for r in owners} == {"d1", "d2", "d3"}


async def test_the_analyze_after_a_load_samples_coarsely_and_leaves_the_setting(
    database: Database,
) -> None:
    # Its lower statistics target holds for its own two statements: neither the session nor
    # a caller's transaction keeps it.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        await add_messages(conn, ids, numbers(2_000))
        await analyze_after_load(conn)
        assert await conn.fetchval("SHOW default_statistics_target") == "100"
        async with conn.transaction():
            await analyze_after_load(conn)
            assert await conn.fetchval("SHOW default_statistics_target") == "100"
        bounds = await conn.fetchval(
            "SELECT cardinality(histogram_bounds::text::text[]) FROM pg_stats"
            " WHERE tablename = 'messages' AND attname = 'id'"
        )
    assert bounds == LOAD_STATISTICS_TARGET + 1  # a histogram of 10 buckets, not 100


async def test_a_claim_probes_indexes_and_never_reads_a_whole_table(database: Database) -> None:
    # A claim of 500 out of 20,000 messages, the proportions of a running batch. Joined to
    # the claimed ids as a set, the planner hashed them and read all of messages and of
    # parts once per claim: a cost that grew with every message ever stored.
    lease = NOW + timedelta(seconds=30)
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        messages = await add_messages(conn, ids, numbers(20_000))
        await add_parts(conn, messages)
        await analyze_after_load(conn)  # as a run does after a large load
        batch = ids["batch"]
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.claim_due_messages,
            "d1",
            [batch],
            [""],
            [500],
            NOW,
            lease,
        )
        # and the generic plan a pooled statement settles on after a few claims
        generic = await explain_generic(
            conn,
            queries.claim_due_messages,
            "text, bigint[], text[], integer[], timestamptz, timestamptz",
            f"'d2', '{{{batch}}}', '{{\"\"}}', '{{500}}', '{NOW.isoformat()}',"
            f" '{lease.isoformat()}'",
        )
    for claim in (plan, generic):
        nodes = plan_nodes(claim)
        scans = scanned(nodes)
        assert not [scan for scan in scans if scan[0] == "Seq Scan"], scans
        assert ("Index Scan", "parts") in scans
        [update] = [
            n for n in nodes if n["Node Type"] == "ModifyTable" and n["Relation Name"] == "messages"
        ]
        assert update["Actual Rows"] == 500


async def test_a_flush_finds_its_rows_by_key_and_never_reads_a_whole_table(
    database: Database,
) -> None:
    # A flush of 250 results, then 250 receipts, out of 20,000 messages, as their plans run
    # once a connection has settled on them (generic: after five runs). Joined with the
    # flush's rows as a set, the planner hashed all of parts and of messages at every flush
    # (22-27 ms per flush of 250, against 2-3 ms by key). The first five runs on each
    # connection are planned for their arrays and may still read a small table whole.
    async with database.acquire() as conn:
        claimed = await claimed_of_a_large_run(conn, 500)
        at = NOW.timestamp()
        results = [outcome(m, f"R{m}") for m in claimed[:250]]
        receipted = [delivered(m, at) for m in claimed[250:]]
        moves = [
            StatusMove(m, "sending", "sent" if i < 250 else "delivered", None, None, at, "b")
            for i, m in enumerate(claimed)
        ]
        flush = await explain_flush(conn, results, receipted, moves)
        receipts = [Receipt("smsc-a", f"R{m}", "delivered", 2, None, None, at, {}) for m in claimed]
        settle = await explain_settle(conn, receipts[:250])
        states = await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
    assert {r["status"]: r["n"] for r in states} == {"delivered": 500, "queued": 19_500}
    for plan in (flush, settle):
        scans = scanned(plan_nodes(plan))
        assert not [scan for scan in scans if scan[0] == "Seq Scan"], scans
        assert ("Index Scan", "messages") in scans


RECEIPT_ARRAY_TYPES = ("text[]", "text[]", "text[]", "smallint[]", "text[]", "text[]", "float8[]")


# The statistics a plan is made from: a run alone, or beside old, delivered ones (few parts
# pending), where a generic plan once compared every flushed row with every other.
BESIDE_OLD_RUNS = pytest.mark.parametrize(
    "old_parts", [0, 100_000], ids=["a fresh run", "beside old runs"]
)


async def explain_flush(
    conn: asyncpg.Connection,
    results: list[PartOutcome],
    receipted: list[PartOutcome],
    moves: list[StatusMove],
) -> list[dict]:
    """write_results under its generic plan, run (EXPLAIN ANALYZE) with these rows."""
    arguments = [
        await literal(conn, results, "part_outcome[]"),
        await literal(conn, receipted, "part_outcome[]"),
        await literal(conn, moves, "status_move[]"),
    ]
    return await explain_generic(
        conn,
        queries.write_results,
        "part_outcome[], part_outcome[], status_move[]",
        ", ".join(arguments),
    )


async def explain_settle(conn: asyncpg.Connection, receipts: list[Receipt]) -> list[dict]:
    """apply_receipts under its generic plan, run with `receipts`, each settling its
    single-part message as delivered (a receipt window of an hour)."""
    arguments = [
        await literal(conn, values, sql_type)
        for values, sql_type in zip(receipt_arrays(receipts), RECEIPT_ARRAY_TYPES, strict=True)
    ]
    arguments += [
        await literal(conn, ["delivered"] * len(receipts), "text[]"),
        await literal(conn, [None] * len(receipts), "text[]"),
        "3600",
    ]
    return await explain_generic(
        conn,
        queries.apply_receipts,
        "text[], text[], text[], smallint[], text[], text[], float8[], text[], text[], float8",
        ", ".join(arguments),
    )


async def literal(conn: asyncpg.Connection, value: object, sql_type: str) -> str:
    """`value` as a SQL literal of `sql_type`, as asyncpg would send it."""
    text = await conn.fetchval(f"SELECT $1::{sql_type}::text", value)
    return "'" + text.replace("'", "''") + "'"


@BESIDE_OLD_RUNS
async def test_the_flush_of_receipted_results_handles_each_row_a_bounded_number_of_times(
    database: Database, old_parts: int
) -> None:
    # The flush's plan is generic (array sizes unknown, ten rows guessed), and what it does
    # with that guess follows the statistics. Two ways it went wrong, each now bounded here:
    # - Results that came with their receipts settle their single-part messages, which reads
    #   when each part went. That was a table of one row per message joined with the moves,
    #   rescanned for every move.
    # - Beside old, delivered runs the statistics say few parts are pending; with a key list
    #   beside each join, the plan walked the keys and reread the array for each: 1,157
    #   receipted parts compared 1,337,492 pairs (470 ms, bench/retention.py).
    async with database.acquire() as conn:
        claimed = await claimed_of_a_large_run(conn, 1000, old_parts)
        at = NOW.timestamp()
        sent = [at - 0.5 + i / 1e6 for i in range(len(claimed))]  # to the microsecond
        receipted = [
            delivered(m, at)._replace(submitted_at=s) for m, s in zip(claimed, sent, strict=True)
        ]
        moves = [StatusMove(m, "sending", "delivered", None, None, at, "b") for m in claimed]

        plan = await explain_flush(conn, [], receipted, moves)
        stored = await conn.fetch(
            "SELECT m.status, extract(epoch FROM m.sent_at)::float8 AS sent_at FROM messages m"
            " WHERE m.id = ANY($1::bigint[]) ORDER BY m.id",
            claimed,
        )
    # Linear: about 45 rows handled per flushed row; the quadratic plan handled 1,048 each.
    assert rows_handled(plan_nodes(plan)) < 100 * len(claimed), plan
    assert [(r["status"], r["sent_at"]) for r in stored] == [("delivered", s) for s in sent]


async def old_runs(conn: asyncpg.Connection, count: int) -> None:
    """`count` messages of a finished run, every one and its part delivered (none when 0):
    beside them the statistics say few parts are pending."""
    if count:
        old = await make_batch(conn, "completed", account_name="old")
        await add_parts(conn, await add_messages(conn, old, numbers(count, "+347")))
        await conn.execute("UPDATE parts SET state = 'delivered'")
        await conn.execute("UPDATE messages SET status = 'delivered'")


@BESIDE_OLD_RUNS
async def test_the_claim_handles_each_row_a_bounded_number_of_times(
    database: Database, old_parts: int
) -> None:
    async with database.acquire() as conn:
        await old_runs(conn, old_parts)
        ids = await make_batch(conn)
        await add_parts(conn, await add_messages(conn, ids, numbers(20_000)))
        await analyze_after_load(conn)
        lease = NOW + timedelta(seconds=30)
        plan = await explain_generic(
            conn,
            queries.claim_due_messages,
            "text, bigint[], text[], integer[], timestamptz, timestamptz",
            f"'d1', '{{{ids['batch']}}}', '{{\"\"}}', '{{1000}}',"
            f" '{NOW.isoformat()}', '{lease.isoformat()}'",
        )
        sending = await conn.fetchval("SELECT count(*) FROM messages WHERE status = 'sending'")
    assert sending == 1000
    assert rows_handled(plan_nodes(plan)) < 100 * 1000, plan  # 28 per claimed row


@BESIDE_OLD_RUNS
async def test_receipts_are_applied_handling_each_a_bounded_number_of_times(
    database: Database, old_parts: int
) -> None:
    async with database.acquire() as conn:
        claimed = await claimed_of_a_large_run(conn, 1000, old_parts)
        at = NOW.timestamp()
        await store.write_results(
            conn,
            [outcome(m, f"R{m}") for m in claimed],
            [],
            [StatusMove(m, "sending", "sent", None, None, at, "b") for m in claimed],
        )
        receipts = [Receipt("smsc-a", f"R{m}", "delivered", 2, None, None, at, {}) for m in claimed]
        plan = await explain_settle(conn, receipts)
        settled = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE id = ANY($1::bigint[]) AND status = 'delivered'",
            claimed,
        )
    assert settled == len(claimed)
    assert rows_handled(plan_nodes(plan)) < 100 * len(claimed), plan  # 35 per receipt


def rows_handled(nodes: list[dict]) -> int:
    """Every row each node of an EXPLAIN ANALYZE plan returned or filtered out, over all its
    loops: quadratic when a node rereads a whole input for each row of another."""
    return sum(
        (
            n.get("Actual Rows", 0)
            + n.get("Rows Removed by Filter", 0)
            + n.get("Rows Removed by Join Filter", 0)
        )
        * n.get("Actual Loops", 1)
        for n in nodes
    )


async def claimed_of_a_large_run(
    conn: asyncpg.Connection, count: int, old_parts: int = 0
) -> list[int]:
    """A run of 20,000 single-part messages as expansion leaves it (statistics taken after
    the load), beside `old_parts` old delivered ones, `count` of them claimed: their ids."""
    await old_runs(conn, old_parts)
    ids = await make_batch(conn)
    messages = await add_messages(conn, ids, numbers(20_000))
    await add_parts(conn, messages)
    await analyze_after_load(conn)  # as a run does after a large load
    lease = NOW + timedelta(seconds=30)
    return [r["id"] for r in await claim_due(conn, "d1", count, NOW, lease)]


def receipt_arrays(receipts: list[Receipt]) -> list[list[object]]:
    """apply_receipts' first seven arrays, as store.dispatch.apply_receipts builds them."""
    return [
        [r.bind for r in receipts],
        [r.canonical_id for r in receipts],
        [r.state for r in receipts],
        [r.receipt_state for r in receipts],
        [r.receipt_error for r in receipts],
        [r.network_error for r in receipts],
        [r.at for r in receipts],
    ]


async def test_finishing_batches_never_reads_a_whole_table(database: Database) -> None:
    # Statistics taken while the batch was all queued, as after expansion; by the last
    # maintenance ticks every message is final, and a sequential scan reads them all.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        await add_messages(conn, ids, numbers(20_000))
        await conn.execute("ANALYZE messages")
        await conn.execute("UPDATE messages SET status = 'delivered'")
        plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + queries.finish_batches)
    nodes = plan_nodes(plan)
    scans = scanned(nodes)
    assert ("Seq Scan", "messages") not in scans, scans
    [update] = [n for n in nodes if n["Node Type"] == "ModifyTable"]
    assert update["Actual Rows"] == 1  # and the batch is completed


@pytest.mark.parametrize("check", ["every open batch", "the flush's campaigns"])
async def test_a_sending_batch_is_found_unfinished_by_one_probe_of_its_queue(
    database: Database, check: str
) -> None:
    # The maintenance tick checks every open batch, the writer's check its flush's campaigns
    # (generic plan). Both stop at the batch's first queued message. The writer's copy once
    # ordered that probe other than messages_due_idx, and sorted every queued message of the
    # batch at each check: 20,000 read, 14 ms.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        await add_messages(conn, ids, numbers(20_000))
        await conn.execute("UPDATE messages SET status = 'queued'")
        await analyze_after_load(conn)
        if check == "every open batch":
            plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + queries.finish_batches)
        else:
            plan = await explain_generic(
                conn, queries.finish_campaign_batches, "bigint[]", f"'{{{ids['campaign']}}}'"
            )
        status = await conn.fetchval("SELECT status FROM batches WHERE id = $1", ids["batch"])
    nodes = plan_nodes(plan)
    assert ("Seq Scan", "messages") not in scanned(nodes), scanned(nodes)
    read = rows_read(nodes, "messages")
    assert read <= 2, read
    assert status == "sending"


async def test_finishing_a_batch_never_reads_other_batches_waiting_for_receipts(
    database: Database,
) -> None:
    # Another open batch has many messages waiting for receipts (real carriers answer in
    # seconds to hours). The probe for 'sent' messages of a finished batch must not walk
    # them: without an index on the batch it read all of messages at every maintenance tick.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        await add_messages(conn, ids, numbers(1_000))
        await conn.execute("UPDATE messages SET status = 'delivered'")
        waiting = await make_batch_in_same_campaign(conn, ids, "sending")
        await add_messages(conn, waiting, numbers(20_000, "+347"))
        await conn.execute(
            "UPDATE messages SET status = 'sent', sent_at = now() WHERE batch_id = $1",
            waiting["batch"],
        )
        await conn.execute("ANALYZE messages")
        plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + queries.finish_batches)
        completed = await conn.fetch("SELECT id FROM batches WHERE status = 'completed'")
    nodes = plan_nodes(plan)
    assert ("Seq Scan", "messages") not in scanned(nodes), scanned(nodes)
    read = rows_read(nodes, "messages")
    assert read <= 2, read  # one probe finds the waiting batch's first 'sent' message
    assert [r["id"] for r in completed] == [ids["batch"]]  # EXPLAIN ANALYZE ran the update


async def test_the_lease_check_reads_no_live_lease(database: Database) -> None:
    # Every maintenance tick looks for expired leases. With the expiry only in an OR, the walk
    # of messages_lease_idx had no bound and read each live lease (the whole in-flight window).
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        await add_messages(conn, ids, numbers(2_000))
        await conn.execute(
            "UPDATE messages SET status = 'sending', lease_owner = 'a', lease_expires = $1"
            " WHERE id % 2 = 0",
            NOW + timedelta(seconds=30),
        )
        await conn.execute("ANALYZE messages")
        # As the pool runs it after a few ticks: a generic plan, where the owner is not
        # known to be NULL and the OR cannot be simplified away.
        plan = await explain_generic(
            conn,
            queries.reclaim_expired_leases,
            "timestamptz, integer, text, boolean",
            f"'{NOW.isoformat()}', 5000, NULL, false",
        )
        # A restarted process named 'a' still takes back every lease it held.
        taken = await conn.fetch(queries.reclaim_expired_leases, NOW, 5000, "a", False)
    nodes = plan_nodes(plan)
    [lease_scan] = [n for n in nodes if n.get("Index Name") == "messages_lease_idx"]
    assert ("Seq Scan", "messages") not in scanned(nodes)
    assert lease_scan["Actual Rows"] == 0
    assert lease_scan.get("Rows Removed by Filter", 0) == 0, lease_scan
    assert len(taken) == 1_000 and {r["status"] for r in taken} == {"unknown"}


async def test_the_receipt_sweep_never_reads_all_parts(database: Database) -> None:
    # Statistics taken while every part was pending, as after expansion; the sweep then runs
    # every few seconds while parts await receipts. Joined with the stale messages, their
    # parts were read by a sequential scan of all of parts at every sweep, stale or not.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        messages = await add_messages(conn, ids, numbers(20_000))
        await add_parts(conn, messages)
        await conn.execute("ANALYZE parts")
        await conn.execute("UPDATE parts SET state = 'submitted'")
        await conn.execute("UPDATE messages SET status = 'sent', sent_at = $1", NOW)
        await conn.execute("ANALYZE messages")  # autovacuum's, during the run
        await conn.execute(
            "UPDATE messages SET sent_at = $1 WHERE id = $2", NOW - timedelta(days=3), messages[0]
        )
        plan = await explain_generic(
            conn,
            queries.sweep_unreceipted,
            "timestamptz, timestamptz, integer",
            f"'{(NOW - timedelta(days=2)).isoformat()}', '{NOW.isoformat()}', 5000",
        )
        swept = await conn.fetch("SELECT message_id FROM parts WHERE state = 'expired'")
    nodes = plan_nodes(plan)
    scans = scanned(nodes)
    assert ("Seq Scan", "parts") not in scans and ("Seq Scan", "messages") not in scans, scans
    assert [r["message_id"] for r in swept] == [messages[0]]  # EXPLAIN ANALYZE ran the sweep


async def test_a_large_sweep_counts_swept_parts_once(database: Database) -> None:
    # A carrier that stops sending receipts leaves thousands of messages to expire at once.
    # Their swept parts were counted by a subquery over all swept parts per returned message:
    # 5,000 stale messages took 906 ms, now 75 ms.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        messages = await add_messages(conn, ids, numbers(300))
        await add_parts(conn, messages, per_message=2, state="submitted")
        await conn.execute(
            "UPDATE messages SET status = 'sent', sent_at = $1", NOW - timedelta(days=3)
        )
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.sweep_unreceipted,
            NOW - timedelta(days=2),
            NOW,
            5000,
        )
        rows = await conn.fetch(
            "SELECT message_id, count(*) AS n FROM parts WHERE state = 'expired'"
            " GROUP BY message_id"
        )
    swept_reads = [n for n in plan_nodes(plan) if n.get("CTE Name") == "parts_swept"]
    assert swept_reads and all(n["Actual Loops"] == 1 for n in swept_reads), swept_reads
    assert len(rows) == 300 and {r["n"] for r in rows} == {2}


async def explain_generic(
    conn: asyncpg.Connection, query: str, types: str, arguments: str
) -> list[dict]:
    """EXPLAIN ANALYZE of `query`'s generic plan (the one a pooled statement settles on after
    a few runs: parameters unknown when it is planned), run with the literal `arguments`."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    await conn.execute(f"PREPARE probe({types}) AS {query}")
    try:
        return await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE probe({arguments})")
    finally:
        await conn.execute("DEALLOCATE probe; RESET plan_cache_mode")


def scanned(nodes: list[dict]) -> set[tuple[str, str]]:
    """(node type, table) of every node of a plan that reads a table."""
    return {(n["Node Type"], n["Relation Name"]) for n in nodes if "Relation Name" in n}


def rows_read(nodes: list[dict], table: str) -> int:
    """Rows the plan's scans of `table` returned, over all their loops."""
    return sum(
        n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
        for n in nodes
        if n.get("Relation Name") == table
    )


def plan_nodes(plan: list[dict]) -> list[dict]:
    """Every node of an EXPLAIN (FORMAT JSON) plan (json arrives decoded: the pool's codec)."""
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


async def make_batch_in_same_campaign(
    conn: asyncpg.Connection, ids: dict[str, int], status: str
) -> dict[str, int]:
    batch = await conn.fetchrow(queries.create_batch, ids["campaign"], None, None, "run")
    assert batch is not None
    await conn.execute("UPDATE batches SET status = $2 WHERE id = $1", batch["id"], status)
    return {**ids, "batch": batch["id"]}


WINDOW = 50 * 3600.0  # the receipt window of the default tracker config, in seconds


def outcome(message_id: int, canonical_id: str, at: datetime = NOW) -> PartOutcome:
    return PartOutcome(
        message_id, 1, "submitted", canonical_id.lower(), canonical_id, 0, at.timestamp(), "smsc-a"
    )


def delivered(message_id: int, receipt_at: float) -> PartOutcome:
    """`outcome` with its receipt folded in, as a flush writes it: delivered at `receipt_at`."""
    return outcome(message_id, f"R{message_id}")._replace(
        state="delivered", receipt_state=2, receipt_at=receipt_at
    )


def dlr(canonical_id: str, at: datetime = NOW, state: str = "delivered") -> Receipt:
    return Receipt("smsc-a", canonical_id, state, 2, "000", None, at.timestamp(), {"id": "x"})


async def test_receipts_match_parts_or_wait_as_orphans(database: Database) -> None:
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        m1, m2 = await add_messages(conn, ids, ["+34600000001", "+34600000002"])
        await conn.execute(
            "INSERT INTO parts (message_id, seq, short_message) VALUES ($1, 1, '\\x41'),"
            " ($2, 1, '\\x42')",
            m1,
            m2,
        )
        await write_results(conn, [outcome(m1, "ABC")], (), [])
        # A receipt for m1's part, and one for m2's part whose submit_sm_resp is not stored yet.
        later = NOW + timedelta(seconds=1)
        receipts = [dlr("ABC", later), dlr("DEF", later)]
        singles = [("delivered", None)] * 2
        matched = await apply_receipts(conn, receipts, singles, WINDOW)
        assert [(r["pos"], r["message_id"]) for r in matched] == [(1, m1)]
        assert matched[0]["submitted_at"] == NOW.timestamp()
        assert not matched[0]["settled"]  # m1 is still 'queued', not 'sent': left to the caller
        await park_orphan_receipts(conn, receipts[1:])
        assert await take_matching_orphans(conn, WINDOW, 10) == []

        await write_results(conn, [outcome(m2, "DEF")], (), [])
        [orphan] = await take_orphans_for_ids(conn, [("smsc-a", "DEF")], WINDOW)
        assert orphan == receipts[1]  # as it was parked, its time included
        # A duplicate of m1's receipt finds no part waiting: the caller parks it.
        assert await apply_receipts(conn, receipts[:1], singles[:1], WINDOW) == []
        parts = await conn.fetch(queries.message_part_states, [m1, m2])
        assert {r["id"]: r["part_states"] for r in parts} == {m1: ["delivered"], m2: ["submitted"]}


async def test_a_receipt_reaches_the_newest_part_submitted_before_it(database: Database) -> None:
    # The carrier gave the id "R" to three parts over time (a restart reset its counter).
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        old, stale, new = await add_messages(
            conn, ids, ["+34600000001", "+34600000002", "+3460003"]
        )
        await conn.execute(
            "INSERT INTO parts (message_id, seq, short_message)"
            " SELECT unnest($1::bigint[]), 1, '\\x41'",
            [old, stale, new],
        )
        ancient = NOW - timedelta(seconds=WINDOW + 60)
        await write_results(conn, [outcome(stale, "R", ancient), outcome(old, "R", NOW)], (), [])
        # Final already: a receipt for "R" must not be lost on it.
        assert len(await apply_receipts(conn, [dlr("R", NOW)], [("delivered", None)], WINDOW))
        await write_results(conn, [outcome(new, "R", NOW + timedelta(seconds=10))], (), [])
        # Received before `new` was submitted: not `new`'s; `old` is final, `stale` is out
        # of the window. Parked.
        before = dlr("R", NOW + timedelta(seconds=5))
        assert await apply_receipts(conn, [before], [("delivered", None)], WINDOW) == []
        after = dlr("R", NOW + timedelta(seconds=11), "undeliverable")
        [found] = await apply_receipts(conn, [after], [("failed", "undeliverable")], WINDOW)
        assert found["message_id"] == new
        states = await conn.fetch(queries.message_part_states, [old, stale, new])
        assert {r["id"]: r["part_states"] for r in states} == {
            old: ["delivered"],
            stale: ["submitted"],
            new: ["undeliverable"],
        }
        # The stale orphan parked before `new` was submitted never lands on it.
        await park_orphan_receipts(conn, [before])
        assert await take_orphans_for_ids(conn, [("smsc-a", "R")], WINDOW) == []
        assert await take_matching_orphans(conn, WINDOW, 10) == []


async def test_receipt_lookups_walk_only_the_newest_parts_of_a_reused_id(
    database: Database,
) -> None:
    # A carrier whose counter restarts (or whose short ids wrap) gave each of 50 ids to 400
    # parts over the weeks: 20,000 parts, statistics taken while they were all pending. A
    # receipt's lookup walks parts_receipt_idx backwards from its time and stops at the first
    # part still waiting: it never reads the id's older parts, nor all of parts.
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        messages = await add_messages(conn, ids, numbers(20_000))
        await add_parts(conn, messages)
        await conn.execute("ANALYZE parts")
        await conn.execute(
            "UPDATE parts SET state = 'delivered', bind = 'g',"
            " canonical_id = 'R' || (message_id % 50),"
            " submitted_at = $1::timestamptz - make_interval(secs => message_id)",
            NOW,
        )
        newest = messages[:50]  # the highest submitted_at of each id: the ones still waiting
        await conn.execute(
            "UPDATE parts SET state = 'submitted' WHERE message_id = ANY($1::bigint[])", newest
        )
        receipts = [dlr(f"R{i}", NOW) for i in range(50)]
        await park_orphan_receipts(conn, receipts)
        await conn.execute("UPDATE orphan_receipts SET bind = 'g'")
        plans = [
            await explain_generic(
                conn,
                queries.take_orphans_for_ids,
                "text[], text[], float8",
                f"ARRAY['g'], ARRAY['R7'], {WINDOW}",
            ),
            await explain_generic(
                conn,
                queries.apply_receipts,
                "text[], text[], text[], smallint[], text[], text[], float8[], text[], text[],"
                " float8",
                f"ARRAY{['g'] * 50}, ARRAY{[r.canonical_id for r in receipts]},"
                f" ARRAY{['delivered'] * 50}, ARRAY{[2] * 50}::smallint[],"
                f" ARRAY{['000'] * 50}, NULL, ARRAY{[r.at for r in receipts]},"
                f" ARRAY{['delivered'] * 50}, NULL, {WINDOW}",
            ),
        ]
        parts = await conn.fetch(
            "SELECT message_id FROM parts WHERE state = 'delivered' AND receipt_at IS NOT NULL"
        )
    for plan in plans:
        nodes = plan_nodes(plan)
        assert ("Seq Scan", "parts") not in scanned(nodes), scanned(nodes)
        walks = [n for n in nodes if n.get("Index Name") == "parts_receipt_idx"]
        assert walks, scanned(nodes)
        for walk in walks:  # one entry read per lookup: the newest, still waiting
            read = walk["Actual Rows"] + walk.get("Rows Removed by Filter", 0)
            assert read <= walk["Actual Loops"], walk
    assert sorted(r["message_id"] for r in parts) == newest  # EXPLAIN ANALYZE applied them


async def test_a_receipt_moves_its_single_part_message_in_the_same_statement(
    database: Database,
) -> None:
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        single, multi, waiting, early = await add_messages(
            conn, ids, ["+34600000001", "+34600000002", "+34600000003", "+34600000004"]
        )
        await conn.execute("UPDATE messages SET part_count = 2 WHERE id = $1", multi)
        await conn.execute("UPDATE messages SET status = 'sent' WHERE id <> $1", early)
        await conn.execute(
            "INSERT INTO parts (message_id, seq, short_message, state, bind, canonical_id,"
            " submitted_at)"
            " VALUES ($1, 1, '\\x41', 'submitted', 'g', 'A', $5),"
            " ($2, 1, '\\x42', 'submitted', 'g', 'B', $5),"
            " ($2, 2, '\\x43', 'submitted', 'g', 'C', $5),"
            " ($3, 1, '\\x44', 'submitted', 'g', 'D', $5),"
            " ($4, 1, '\\x45', 'submitted', 'g', 'E', $5)",
            single,
            multi,
            waiting,
            early,
            NOW,
        )
        later = NOW + timedelta(seconds=3)
        # (state, the single-part status and reason the writer's state machine gives it)
        receipts = [
            ("A", "undeliverable", "failed", "undeliverable"),
            ("B", "delivered", "delivered", None),
            ("D", "enroute", "sent", None),
            ("E", "delivered", "delivered", None),
        ]
        columns = (
            ["g"] * 4,
            [r[0] for r in receipts],
            [r[1] for r in receipts],
            [2] * 4,
            [None] * 4,
            [None] * 4,
            [later.timestamp()] * 4,
            [r[2] for r in receipts],
            [r[3] for r in receipts],
        )
        found = await conn.fetch(queries.apply_receipts, *columns, WINDOW)
        assert [(f["message_id"], f["settled"]) for f in found] == [
            (single, True),  # single part, final receipt: moved here
            (multi, False),  # multipart: the caller aggregates its parts
            (waiting, False),  # an intermediate receipt: it stays 'sent'
            (early, False),  # not 'sent' yet: the caller settles it
        ]
        assert found[0]["campaign_id"] == ids["campaign"]
        rows = await conn.fetch("SELECT id, status, reason, done_at FROM messages ORDER BY id")
        assert [(r["status"], r["reason"], r["done_at"]) for r in rows] == [
            ("failed", "undeliverable", later),
            ("sent", None, None),
            ("sent", None, None),
            ("queued", None, None),
        ]
        # A duplicate of the receipt finds no part waiting: nothing moves again.
        assert await conn.fetch(queries.apply_receipts, *(c[:1] for c in columns), WINDOW) == []


async def test_a_live_dispatcher_renews_only_its_own_expiring_leases(database: Database) -> None:
    lease_len = timedelta(seconds=30)
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        mine, theirs, fresh = await add_messages(
            conn, ids, ["+34600000001", "+34600000002", "+34600000003"]
        )
        await claim_due(conn, "me", 1, NOW, NOW + lease_len)  # mine: expires at NOW + 30 s
        await claim_due(conn, "other", 1, NOW, NOW + lease_len)  # theirs
        await claim_due(conn, "me", 1, NOW, NOW + 3 * lease_len)  # fresh: far from expiry
        later = NOW + timedelta(seconds=20)
        renewed = await store.renew_leases(conn, "me", later + lease_len / 2, later + lease_len)
        assert renewed == 1
        rows = await conn.fetch("SELECT id, lease_expires FROM messages ORDER BY id")
        assert [r["lease_expires"] for r in rows] == [
            later + lease_len,  # renewed: it had 10 s of 30 left
            NOW + lease_len,  # another dispatcher's: never renewed by this one
            NOW + 3 * lease_len,  # more than half a lease left: untouched
        ]
        assert [r["id"] for r in rows] == [mine, theirs, fresh]  # claimed in id order
        # When `theirs` expires, the sweep takes it back, and only it.
        expired = NOW + lease_len + timedelta(seconds=1)
        taken = await conn.fetch(queries.reclaim_expired_leases, expired, 10, None, False)
        assert [r["id"] for r in taken] == [theirs]


async def test_dead_dispatchers_leases_and_the_receipt_sweep(database: Database) -> None:
    lease_len = timedelta(seconds=30)
    lease = NOW + lease_len
    async with database.acquire() as conn:
        ids = await make_batch(conn)
        untouched, written = await add_messages(conn, ids, ["+34600000001", "+34600000002"])
        await conn.execute(
            "INSERT INTO parts (message_id, seq, short_message) SELECT unnest($1::bigint[]), 1,"
            " '\\x41'",
            [untouched, written],
        )
        await claim_due(conn, "dead-dispatcher", 1, NOW, lease)
        # ... then it died with `untouched` leased: it may have gone out.

        assert await conn.fetch(queries.reclaim_expired_leases, NOW, 10, None, False) == []  # live
        later = lease + timedelta(seconds=1)
        reclaimed = await conn.fetch(queries.reclaim_expired_leases, later, 10, None, False)
        # policy mark_unknown: unknown, never re-sent blindly, and so is its part
        assert {r["id"]: r["status"] for r in reclaimed} == {untouched: "unknown"}
        lost = await conn.fetch(queries.message_part_states, [untouched])
        assert [r["part_states"] for r in lost] == [["unknown"]]
        await claim_due(conn, "dead-too", 1, NOW, lease)
        requeued = await conn.fetch(queries.reclaim_expired_leases, later, 10, None, True)
        # policy resend: queued again (its parts already accepted would not be resent)
        assert {r["id"]: r["status"] for r in requeued} == {written: "queued"}
        untouched = written

        [again] = await claim_due(conn, "d2", 10, later, lease + lease_len)
        moved = await write_results(
            conn,
            [PartOutcome(untouched, 1, "submitted", "1", "1", 0, later.timestamp(), "smsc-a")],
            (),
            [StatusMove(untouched, "sending", "sent", None, None, later.timestamp())],
        )
        assert moved == {again["id"]} == {untouched}
        assert (
            await conn.fetchval("SELECT lease_owner FROM messages WHERE id = $1", untouched) is None
        )

        validity_ago = later + timedelta(days=2)
        assert await conn.fetch(queries.sweep_unreceipted, later, validity_ago, 10) == []
        [swept] = await conn.fetch(
            queries.sweep_unreceipted, later + timedelta(seconds=1), validity_ago, 10
        )
        assert (swept["id"], swept["parts_swept"]) == (untouched, 1)
        row = await conn.fetchrow(
            "SELECT m.status, m.reason, p.state FROM messages m JOIN parts p ON p.message_id = m.id"
            " WHERE m.id = $1",
            untouched,
        )
        assert tuple(row) == ("unknown", "no_final_receipt", "expired")


async def test_campaign_lookups_read_only_its_batches_id_ranges(database: Database) -> None:
    # Campaign A's two runs with campaign B's messages in between: its progress, count, page
    # and stop take only A's messages, read from messages_pkey over A's batches' id ranges.
    async with database.acquire() as conn:
        a = await make_batch(conn)
        first = await add_messages(conn, a, numbers(3_000))
        b = await make_batch(conn, account_name="globex")
        await add_messages(conn, b, numbers(20_000, "+347"))
        a2 = await make_batch_in_same_campaign(conn, a, "sending")
        second = await add_messages(conn, a2, numbers(2_000, "+348"))
        await conn.execute(
            "UPDATE messages SET status = 'sent' WHERE id = ANY($1::bigint[])", second[:500]
        )
        await add_parts(conn, first + second, per_message=2)
        await conn.execute("ANALYZE messages")
        await conn.execute("ANALYZE parts")
        campaign = a["campaign"]
        plans = [
            await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.campaign_progress, campaign
            ),
            await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.campaign_part_states, campaign
            ),
            await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.campaign_deferred, campaign
            ),
            await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.count_campaign_messages,
                campaign,
                None,
                None,
            ),
            await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.list_campaign_messages,
                campaign,
                None,
                None,
                10,
                0,
                None,
            ),
            await conn.fetchval(  # a page after a cursor deep in the campaign
                "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.list_campaign_messages,
                campaign,
                None,
                None,
                10,
                0,
                second[1_000],
            ),
        ]
        progress = {
            r["status"]: r["messages"]
            for r in await conn.fetch(queries.campaign_progress, campaign)
        }
        counted = await conn.fetchval(queries.count_campaign_messages, campaign, ["sent"], None)
        in_second = await conn.fetchval(
            queries.count_campaign_messages, campaign, None, a2["batch"]
        )
        page = await conn.fetch(
            queries.list_campaign_messages, campaign, None, a2["batch"], 3, 1, None
        )
        after = await conn.fetch(
            queries.list_campaign_messages, campaign, None, None, 3, 0, first[-1]
        )
        stopped = await conn.fetch(queries.stop_campaign_messages, campaign, NOW)
        others = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE campaign_id = $1 AND status = 'queued'",
            b["campaign"],
        )
    for plan in plans:
        assert ("Seq Scan", "messages") not in scanned(plan_nodes(plan))
        assert ("Seq Scan", "parts") not in scanned(plan_nodes(plan))
    assert progress == {"queued": 4_500, "sent": 500}
    assert (counted, in_second) == (500, 2_000)
    assert [r["id"] for r in page] == second[1:4]
    assert [r["id"] for r in after] == second[:3]  # past campaign B's ids in between
    # The cursor bounds the walk of messages_pkey: the deep page reads its 10 rows, no more.
    deep = [n for n in plan_nodes(plans[-1]) if n.get("Relation Name") == "messages"]
    assert deep and all(n["Actual Rows"] <= 10 for n in deep)
    assert sorted(r["id"] for r in stopped) == sorted(first + second[500:])
    assert others == 20_000


async def test_reports_and_exports_read_only_the_campaigns_batches(database: Database) -> None:
    # As test_campaign_lookups_read_only_its_batches_id_ranges, for campaign insight: the
    # report's aggregates, the links count and an export chunk read campaign A's ranges of
    # messages_pkey, parts_pkey and links_message_idx, never a whole table.
    async with database.acquire() as conn:
        a = await make_batch(conn)
        first = await add_messages(conn, a, numbers(2_000))
        b = await make_batch(conn, account_name="globex")
        others = await add_messages(conn, b, numbers(20_000, "+347"))
        a2 = await make_batch_in_same_campaign(conn, a, "sending")
        second = await add_messages(conn, a2, numbers(1_000, "+348"))
        ours = first + second
        await add_parts(conn, ours + others, state="delivered")
        await conn.execute(
            "INSERT INTO links (code, message_id, batch_id, kind)"
            " SELECT 'c' || m.id, m.id, m.batch_id, 'click' FROM messages m"
        )
        await conn.execute("UPDATE batches SET link_url = 'https://x.example'")
        await conn.execute(
            "UPDATE parts SET submitted_at = $1::timestamptz,"
            " receipt_at = $1::timestamptz + interval '2 seconds'",
            NOW,
        )
        for table in ("messages", "parts", "links"):
            await conn.execute(f"ANALYZE {table}")
        campaign = a["campaign"]
        plans = {
            name: await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + queries[name], *args)
            for name, args in {
                "report_messages": (campaign, 60),
                "report_parts": (campaign, 60),
                "report_links": (campaign,),
                "export_messages": (campaign, first[1_500], 1_000, True),
            }.items()
        }
        links = await conn.fetchrow(queries.report_links, campaign)
        parts = await conn.fetch(queries.report_parts, campaign, 60)
        chunk = await conn.fetch(queries.export_messages, campaign, first[-1], 10, False)
    for name, plan in plans.items():
        read = scanned(plan_nodes(plan))
        for table in ("messages", "parts", "links"):
            assert ("Seq Scan", table) not in read, (name, table)
    latency = {r["latency"]: r["parts"] for r in parts if r["latency"] is not None}
    assert (links["links"], latency) == (3_000, {2.0: 3_000})
    assert [r["message_id"] for r in chunk] == second[:10]  # past campaign B's ids in between
    assert tuple(chunk[0].keys()) == COLUMNS  # the cells the CSV's header names


async def test_a_report_of_interleaved_batches_counts_only_its_own_parts(
    database: Database,
) -> None:
    # Two runs expanded at once take interleaved ids: campaign A's range holds B's messages.
    async with database.acquire() as conn:
        a = await make_batch(conn)
        b = await make_batch(conn, account_name="globex")
        ours, theirs = [], []
        for i in range(6):
            ours += await add_messages(conn, a, [f"+3460000{i:04d}"])
            theirs += await add_messages(conn, b, [f"+3470000{i:04d}"])
        await add_parts(conn, ours, state="delivered")
        await add_parts(conn, theirs, per_message=2, state="undeliverable")
        parts = await conn.fetch(queries.report_parts, a["campaign"], 60)
    by_state = {(r["bind"], r["state"]): r["parts"] for r in parts if r["g"] == 0b001}
    assert by_state == {(None, "delivered"): 6}


async def test_deleting_a_campaign_deletes_its_messages_and_parts_only(database: Database) -> None:
    async with database.acquire() as conn:
        a = await make_batch(conn, "completed")
        await add_parts(conn, await add_messages(conn, a, ["+34600000001", "+34600000002"]))
        b = await make_batch(conn, "completed", "globex")
        kept = await add_messages(conn, b, ["+34600000003"])
        await add_parts(conn, kept)
        # Links and what recipients did with them go with their campaign too.
        await conn.execute(
            "INSERT INTO links (code, message_id, batch_id, kind)"
            " SELECT 'c' || id, id, batch_id, 'click' FROM messages"
        )
        await conn.execute(
            "INSERT INTO link_events (message_id, campaign_id, kind, at)"
            " SELECT id, campaign_id, 'click', now() FROM messages"
        )
        # Its recipients too (no foreign keys on parts or recipients: the query names them).
        await conn.execute(
            "INSERT INTO campaign_recipients (campaign_id, source, phone_raw)"
            " SELECT DISTINCT campaign_id, 'number', phone FROM messages"
        )
        await conn.execute("UPDATE campaigns SET status = 'completed'")
        assert await conn.fetchval(queries.delete_idle_campaign, a["campaign"], a["account"])
        recipients = await conn.fetch("SELECT campaign_id FROM campaign_recipients")
        assert [r["campaign_id"] for r in recipients] == [b["campaign"]]
        left = await conn.fetch("SELECT m.id FROM messages m JOIN parts p ON p.message_id = m.id")
        assert [r["id"] for r in left] == kept
        assert await conn.fetchval("SELECT count(*) FROM parts") == 1
        assert await conn.fetchval("SELECT count(*) FROM batches") == 1
        assert await conn.fetchval("SELECT array_agg(message_id) FROM links") == kept
        assert await conn.fetchval("SELECT array_agg(campaign_id) FROM link_events") == [
            b["campaign"]
        ]


async def test_segment_status_in_sql_is_the_one_in_states(database: Database) -> None:
    # The progress counters are kept in SQL (schema.sql segment_status), the segments' view
    # of them in Python (states.segment_status): every combination must agree.
    combos = [
        (status, state, receipted)
        for status in states.MESSAGE.states
        for state in states.PART.states
        for receipted in (False, True)
    ]
    async with database.acquire() as conn:
        rows = await conn.fetch(
            "SELECT segment_status(s, p, r) AS status"
            " FROM unnest($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY AS c(s, p, r, i)"
            " ORDER BY i",
            [c[0] for c in combos],
            [c[1] for c in combos],
            [c[2] for c in combos],
        )
    assert [r["status"] for r in rows] == [states.segment_status(*c) for c in combos]


async def test_folding_progress_counters_keeps_their_sums(database: Database) -> None:
    # Deltas from many statements become one row per kind and status; a poll reads the same.
    async with database.acquire() as conn:
        await conn.execute(
            "INSERT INTO batch_counts (batch_id, kind, status, n)"
            " SELECT 7, 'messages', s, d FROM unnest($1::text[], $2::bigint[]) AS x(s, d)",
            ["queued"] * 5 + ["sending"] * 5 + ["sent"] * 3,
            [100, -10, -10, -10, -10, 10, 10, -10, 10, 10, 5, 5, 10],
        )
        assert await store.fold_batch_counts(conn, 64, 10) == 0  # too few deltas to fold
        assert await store.fold_batch_counts(conn, 4, 10) == 3
        rows = await conn.fetch(
            "SELECT status, n, folded FROM batch_counts WHERE batch_id = 7 ORDER BY status"
        )
    assert [tuple(r) for r in rows] == [
        ("queued", 60, True),
        ("sending", 30, True),
        ("sent", 20, True),
    ]
