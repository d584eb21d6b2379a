"""`herald run` as a subprocess with its API: ready, a campaign over HTTP, metrics, no secrets
in its output, SIGTERM exits 0."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from herald.simulator import Simulator
from herald.store.accounts import create_account
from herald.store.db import Database
from herald.store.queries import queries
from tests.support.processes import HeraldProcess, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_the_daemon_serves_sends_and_reports(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    port = free_port()
    password = "s3cr!t9f"  # SMPP allows 8 characters
    async with Simulator(password=password) as sim:
        config = write_config(
            tmp_path / "h.toml",
            dsn=db_dsn,
            node="api",
            sim=sim,
            system_id="herald",
            password=password,
        )
        body = config.read_text().replace(
            "[api]\nenabled = false", f"[api]\nenabled = true\nport = {port}"
        )
        config.write_text(body.replace('log_level = "INFO"', 'log_level = "DEBUG"'))
        async with database.acquire() as conn:
            account = await create_account(conn, "shop", credit=100)
            await conn.execute(queries.create_sender, account.id, "Shop", "alphanumeric", 5, 0)
        herald = HeraldProcess(config)
        await herald.start()
        await sim.wait_for_binds(1)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {account.api_key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as api:
            assert (await api.get("/healthz")).json() == {"status": "ok"}
            ready = await api.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["schema"] == {"current": True, "pending": [], "unknown": []}
            binds = (await api.get("/healthz/binds")).json()
            assert binds["status"] == "ok" and binds["binds"]["api-bind"]["state"] == "bound"
            created = await api.post(
                "/v1/campaigns",
                json={
                    "name": "launch",
                    "sender": "Shop",
                    "message": "Hi %Name%, we are open",
                    "respect_quiet_hours": False,
                    "recipients": [
                        {"phone": f"+30694853{i:04d}", "name": f"N{i}"} for i in range(25)
                    ],
                },
            )
            assert created.status_code == 201, created.text
            await sim.wait_for_receipts_acked(25)
            metrics = samples((await api.get("/metrics")).text)
        code = await herald.terminate()
    assert code == 0
    assert metrics[("herald_segments_sent_total", (("bind", "api-bind"),))] == 25
    assert metrics[("herald_receipts_total", (("bind", "api-bind"), ("state", "delivered")))] == 25
    assert metrics[("herald_bind_state", (("bind", "api-bind"), ("state", "bound")))] == 1
    output = "".join(herald.output)
    assert "DEBUG" in output  # the check below means something
    for secret in (password, account.api_key, account.webhook_secret):
        assert secret not in output
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
    assert {r["status"]: r["n"] for r in rows} == {"delivered": 25}
