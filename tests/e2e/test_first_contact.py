"""What a new user does first: `make run`, then the commands its banner prints (issue 23,
items 1-3). herald runs as `make run` starts it (config/herald.toml: the embedded PostgreSQL
in a fresh state directory, the simulator, the demo account), here at night in Athens."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from herald.daemon import banner
from tests.support.gateway import make_run_config, running
from tests.support.processes import batch_events

NIGHT = datetime(2026, 11, 22, 0, 47, tzinfo=UTC)  # 02:47 in Athens: inside quiet hours


def printed_commands(text: str) -> str:
    """The shell lines of the banner: the export, then the curl with its continuations."""
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("export HERALD_URL="))
    curl = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    end = next(i for i in range(curl, len(lines)) if not lines[i].endswith("\\"))
    return "\n".join([lines[start], *lines[curl : end + 1]])


async def bash(script: str) -> str:
    # curl answers 4xx quietly: as in the README test, a refusal fails the script.
    preamble = 'set -e\ncurl() { command curl --fail-with-body "$@"; }\n'
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        preamble + script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, f"{script}\n---\n{out.decode()}"
    return out.decode()


async def test_the_printed_demo_runs_every_time_at_any_hour(tmp_path: Path) -> None:
    config = make_run_config(tmp_path / "state")
    async with running(config, clock=lambda: NIGHT) as herald:
        assert herald.db is not None and herald.demo_key and herald.demo_webhook_secret
        text = banner(config, herald)
        script = printed_commands(text)
        async with batch_events(herald.db) as events:
            # Twice, as after a restart: the campaign needs no name that could clash.
            first, again = json.loads(await bash(script)), json.loads(await bash(script))
            assert first["respect_quiet_hours"] is again["respect_quiet_hours"] is False
            batches = {first["run"]["batch_id"], again["run"]["batch_id"]}
            async with asyncio.timeout(30):
                while batches:  # completed in either order, in one notification or two
                    batches -= set((await events.get()).get("batches_completed", []))
        assert "quiet hours off" in text
        assert first["name"] != again["name"]
        async with httpx.AsyncClient(
            base_url=herald.api_url + "/v1",
            headers={"Authorization": f"Bearer {herald.demo_key}"},
        ) as api:
            for created in (first, again):
                detail = (await api.get(f"/campaigns/{created['id']}")).json()
                messages = detail["progress"]["messages"]
                assert (detail["status"], messages["delivered"]) == ("completed", 1)
                assert detail["progress"]["deferred"] == []
        async with herald.db.acquire() as conn:
            secret = await conn.fetchval("SELECT webhook_secret FROM accounts WHERE name = 'demo'")
    # The demo account's webhook secret is printed, so its signed callbacks can be checked.
    assert f"webhook secret (checks its callbacks' signatures): {secret}" in text
