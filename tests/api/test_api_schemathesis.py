"""Schemathesis with every check against the live API (a real server, a real database):
the OpenAPI document and the behaviour agree (issue 25, item 11).

The schemathesis command runs as it would by hand (its examples, coverage, fuzzing and
stateful phases, `--checks all`), in a subprocess, against the API served from a thread with
its own event loop. It is bounded and deterministic: a fixed number of examples per
operation, a fixed seed, deterministic generation, one worker, a request timeout, and the
test's own timeout as the deadline. The account served owns a sender, a contact, a group and
a campaign, so ids that exist get generated too.

Revoking keys runs on its own, last, with a key of its own: in the main run it would revoke
the key every other request uses (`force=true` is in the schema) and the rest would test
nothing but 401s.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from herald.api.app import create_app
from herald.api.context import AppContext
from herald.campaigns.runs import CampaignRunner
from herald.delivery.router import Router
from herald.listeners import listen
from herald.metrics import Metrics
from herald.store.accounts import create_account, insert_key
from herald.store.db import Database
from herald.store.queries import queries
from tests.api.conftest import CONFIG
from tests.api.support import _Server
from tests.conftest import PgCluster

EXAMPLES_PER_OPERATION = 4
SEED = 25_11
REVOKE = "DELETE /v1/account/keys/{key_id}"
SETTINGS = """
hooks = "xml_bodies"

[checks.positive_data_acceptance]
# A request the schema accepts may still break a rule no schema can state: a phone number that
# is not one, a sender rule, a template, a file's contents (400, with the rule's own code), or
# the account's credit (402). Those are answers, not mismatches.
expected-statuses = ["2xx", "400", "401", "402", "403", "404", "409", "429"]
"""


# XML has no types: a body generated as `"groups": [null]` and one generated as `"groups":
# null` are both written `<groups>null</groups>`, `""` and `[]` both `<groups></groups>`. So for
# XML bodies the checks that a schema-valid body is accepted and an invalid one refused cannot
# know which was meant; every other check (no 5xx, answers as documented) still runs on them.
# tests/api/test_xml.py tests the XML reading itself.
HOOKS = """
import schemathesis

AMBIGUOUS_IN_XML = {"ST201", "ST202"}  # schema-violating accepted, schema-valid rejected


@schemathesis.hook
def filter_failure(context, failure, case, response):
    xml = (case.media_type or "").split(";")[0].strip().endswith("xml")
    return not (xml and failure.code in AMBIGUOUS_IN_XML)
"""


@dataclass
class LiveApi:
    url: str
    key: str
    revoker_key: str


async def _seed(db: Database) -> tuple[str, str]:
    async with db.acquire() as conn:
        account = await create_account(conn, "fuzz", 1_000_000)
        sender = await conn.fetchval(
            queries.create_sender, account.id, "Herald", "alphanumeric", 5, 0
        )
        await conn.execute(queries.upsert_contact, account.id, "+306948530920", "Ann", {})
        await conn.execute(queries.create_group, account.id, "Group")
        await conn.fetchrow(
            queries.create_campaign,
            account.id,
            "Seed",
            sender,
            "Hi",
            {},
            False,
            False,
            True,
            [],
            datetime.now(UTC) + timedelta(days=30),
            None,
            None,
            None,
            False,
            False,
            "scheduled",
        )
        revoker = await insert_key(
            conn, account.id, "revoker", now=datetime.now(UTC), expires_at=None
        )
    assert revoker is not None
    return account.api_key, revoker.api_key


@pytest.fixture(scope="module")
def live_api(pg_cluster: PgCluster) -> Iterator[LiveApi]:
    name = pg_cluster.create_database()
    loop = asyncio.new_event_loop()
    sock = listen("127.0.0.1", 0, key="api.port", variable="HERALD_API_PORT")  # as herald's
    ready: dict[str, object] = {}
    started = threading.Event()
    db = Database(pg_cluster.dsn(name), min_size=1, max_size=4)

    async def serve() -> None:
        try:
            await db.open()
            ready["keys"] = await _seed(db)
            runner = CampaignRunner(
                db,
                CONFIG,
                Router(CONFIG.routes, healthy=lambda _: True),
                clock=_now,
                metrics=Metrics(),
            )
            app = create_app(AppContext(db=db, config=CONFIG, clock=_now, runner=runner))
            server = _Server(
                __import__("uvicorn").Config(
                    app, log_level="warning", lifespan="off", access_log=False
                )
            )
            ready["server"] = server
        finally:
            started.set()
        try:
            await server.serve(sockets=[sock])
        finally:
            await db.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    started.wait(60)
    assert "server" in ready, "the API did not start"
    try:
        key, revoker_key = cast(tuple[str, str], ready["keys"])
        yield LiveApi(f"http://127.0.0.1:{sock.getsockname()[1]}", key, revoker_key)
    finally:
        cast(_Server, ready["server"]).should_exit = True
        thread.join(30)
        loop.close()
        sock.close()
        pg_cluster.drop_database(name)


def _now() -> datetime:
    return datetime.now(UTC)


def run_schemathesis(live: LiveApi, key: str, tmp: Path, *selection: str) -> None:
    settings = tmp / "schemathesis.toml"
    settings.write_text(SETTINGS, encoding="utf-8")
    (tmp / "xml_bodies.py").write_text(HOOKS, encoding="utf-8")  # importable from cwd
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(settings), "--no-color",
        "run", f"{live.url}/openapi.json",
        "--checks", "all",
        # herald answers 404 for an id named in a body that is not the account's
        # (contact_not_found, group_not_found: docs/api.md), which this check takes for the
        # resource in the path having vanished right after its creation. Every other check runs.
        "--exclude-checks", "ensure_resource_availability",
        "--header", f"Authorization: Bearer {key}",
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--seed", str(SEED),
        "--generation-deterministic",  # (which also keeps no example database)
        "--workers", "1",
        "--request-timeout", "30",
        *selection,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=540)
    report = done.stdout[-20_000:] + done.stderr[-5_000:]
    assert done.returncode == 0, report
    assert " passed" in report and "failed" not in report.split("Test cases:")[-1], report


@pytest.mark.timeout(600)
def test_every_check_passes_on_every_operation(live_api: LiveApi, tmp_path: Path) -> None:
    run_schemathesis(live_api, live_api.key, tmp_path, "--exclude-name", REVOKE)
    run_schemathesis(live_api, live_api.revoker_key, tmp_path, "--include-name", REVOKE)
