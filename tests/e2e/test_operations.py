"""`herald run` as operators run it: JSON logs with one line per API request (request id
given or made, and returned), campaign lifecycle events and bind state changes at INFO, no
secret in any line; /metrics on a port of its own with the standard collectors; readiness
that a carrier outage does not touch, the binds reported apart."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from herald.simulator import Simulator
from herald.store.accounts import create_account
from herald.store.db import Database
from herald.store.queries import queries
from tests.support.processes import HeraldProcess, write_config

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_lines(process: HeraldProcess) -> list[dict[str, Any]]:
    lines = []
    for line in "".join(process.output).splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def metric_names(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


async def test_logs_requests_lifecycle_metrics_port_and_health(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    api_port, metrics_port = free_port(), free_port()
    password = "pw4sim"
    async with Simulator(password=password) as sim:
        config = write_config(
            tmp_path / "h.toml",
            dsn=db_dsn,
            node="ops",
            sim=sim,
            system_id="herald",
            password=password,
        )
        body = config.read_text().replace(
            "[api]\nenabled = false",
            f"[api]\nenabled = true\nport = {api_port}\n"
            f'[metrics]\nport = {metrics_port}\n[logging]\nformat = "json"',
        )
        config.write_text(body)
        async with database.acquire() as conn:
            account = await create_account(conn, "shop", credit=100)
            await conn.execute(queries.create_sender, account.id, "Shop", "alphanumeric", 5, 0)
        herald = HeraldProcess(config)
        await herald.start()
        await sim.wait_for_binds(1)
        headers = {"Authorization": f"Bearer {account.api_key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api:
            created = await api.post(
                "/v1/campaigns",
                headers={**headers, "X-Request-ID": "trace-42"},
                json={
                    "name": "launch",
                    "sender": "Shop",
                    "message": "Hi %Name%",
                    "respect_quiet_hours": False,
                    "recipients": [{"phone": f"+30694853{i:04d}", "name": "N"} for i in range(3)],
                },
            )
            assert created.status_code == 201, created.text
            assert created.headers["x-request-id"] == "trace-42"
            await sim.wait_for_receipts_acked(3)
            # Completion is checked after a flush, at most every 0.2 s, and not at the stop:
            # wait for its line rather than race the SIGTERM below.
            await herald.wait_for_line("completed: 3 delivered")
            missing = await api.get("/v1/campaigns/999999", headers=headers)
            assert missing.status_code == 404
            generated = missing.headers["x-request-id"]
            assert len(generated) == 32
            hostile = await api.get("/v1/account", headers={**headers, "X-Request-ID": "a b"})
            assert hostile.headers["x-request-id"] != "a b"  # not sane: a new one
            assert (await api.get("/metrics")).status_code == 404  # on its own port

            # A carrier outage: the binds go, the API stays ready.
            await sim.stop()
            ready = await api.get("/readyz")
            assert ready.status_code == 200, ready.text
            binds = await api.get("/healthz/binds")
            assert binds.status_code == 503
            assert binds.json()["status"] == "down"
            assert binds.json()["binds"]["ops-bind"]["state"] == "connecting"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}") as ops:
            scraped = await ops.get("/metrics")
            assert (await ops.get("/readyz")).status_code == 200
        code = await herald.terminate()
    assert code == 0
    names = metric_names(scraped.text)
    assert {"process_resident_memory_bytes", "python_gc_collections_total"} <= names
    assert {"herald_build_info", "herald_api_requests_total", "herald_db_pool_max"} <= names
    for series in (
        'herald_api_requests_total{method="POST",route="/v1/campaigns",status="201"} 1.0',
        'route="/v1/campaigns/{campaign_id}",status="404"} 1.0',
        'herald_api_requests_total{method="GET",route="/readyz",status="200"} 1.0',
        'herald_api_requests_total{method="GET",route="unmatched",status="404"} 1.0',
    ):
        assert series in scraped.text, series

    lines = json_lines(herald)
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    requests = [line for line in lines if line["logger"] == "herald.api.requests"]
    post = [r for r in requests if r["method"] == "POST"]
    assert len(post) == 1  # once per request
    assert post[0]["path"] == "/v1/campaigns" and post[0]["status"] == 201
    assert post[0]["account_id"] == account.id and post[0]["request_id"] == "trace-42"
    assert post[0]["duration_ms"] > 0
    assert any(r["request_id"] == generated and r["status"] == 404 for r in requests)
    # What the request caused carries its id: the campaign created and run.
    events = {line.get("event"): line for line in lines if line.get("event")}
    assert events["create"]["request_id"] == "trace-42"
    assert events["run"]["queued"] == 3 and events["run"]["request_id"] == "trace-42"
    assert events["complete"]["messages"] == {"delivered": 3}
    states = [(line["previous"], line["state"]) for line in lines if line.get("bind") == "ops-bind"]
    assert ("connecting", "bound") in states and ("bound", "connecting") in states
    output = "".join(herald.output)
    for secret in (password, account.api_key, account.webhook_secret):
        assert secret not in output
