"""`herald message send` and `herald message show` against a real daemon (issue 21, item 1),
with the simulator as the SMSC and a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from herald.store.db import Database
from tests.integration.test_cli_campaigns import gateway


async def test_send_a_message_and_show_it(database: Database, db_dsn: str, tmp_path: Path) -> None:
    async with gateway(database, db_dsn, tmp_path) as gw:
        out = await gw.ok(
            "message", "send", "--from", "Herald", "--to", "+306948530920", "--to", "12",
            "--value", "code=4521", "--client-ref", "order-1", "--idempotency-key", "k1",
            "Your code is %code%",
        )  # fmt: skip
        lines = out.splitlines()
        assert lines[0].endswith("to +306948530920: queued, gsm7, 1 segment(s)"), out
        assert lines[1].endswith("to 12: rejected (invalid_format), no credit"), out
        assert lines[2] == "1 queued, 1 rejected, 1 segment(s) of credit used"
        message_id = lines[0].split()[1]
        await gw.sim.wait_for_receipts_acked(1)
        again = await gw.ok(
            "message", "send", "--from", "Herald", "--to", "+306948530920", "--to", "12",
            "--value", "code=4521", "--client-ref", "order-1", "--idempotency-key", "k1",
            "--json", "Your code is %code%",
        )  # fmt: skip
        assert json.loads(again)["messages"][0]["id"] == int(message_id)  # sent once
        assert gw.sim.stats.submits == 1
        shown = await gw.ok("message", "show", message_id)
        assert "client_ref order-1" in shown and "text       Your code is 4521" in shown
        refused = await gw.cli("message", "send", "--from", "Nope", "--to", "+306948530920", "x")
        assert refused.exit_code == 1 and "sender_not_allowed" in refused.output
        missing = await gw.cli("message", "show", "999999")
        assert missing.exit_code == 1 and "message_not_found" in missing.output
