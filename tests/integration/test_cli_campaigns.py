"""`herald campaign ...` against a real daemon (the Daemon composition in the test's loop,
an in-process simulator as the SMSC, a real PostgreSQL): the commands run in a worker thread
(click's CliRunner) or as real subprocesses while the daemon keeps serving in the loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from herald.cli.main import main as cli
from herald.daemon import Running
from herald.simulator import Simulator
from herald.store.db import Database
from tests.support.factories import greek_mobiles, make_account, make_sender
from tests.support.gateway import bind_to, gateway_config, running

FAST = ["--interval", "0.05"]


@dataclass
class Gateway:
    herald: Running
    sim: Simulator
    key: str

    @property
    def env(self) -> dict[str, str]:
        return {"HERALD_API_URL": self.herald.api_url, "HERALD_API_KEY": self.key, "COLUMNS": "200"}

    async def cli(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        """One command in a worker thread; the daemon goes on serving in this loop."""
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, list(args), env={**self.env, **(env or {})}
        )
        assert self.key not in result.output  # the key is a secret: never echoed
        return result

    async def ok(self, *args: str) -> str:
        result = await self.cli(*args)
        assert result.exit_code == 0, result.output
        return result.output


@contextlib.asynccontextmanager
async def gateway(
    database: Database, db_dsn: str, tmp_path: Path, **sim_options: Any
) -> AsyncIterator[Gateway]:
    async with database.acquire() as conn:
        account = await make_account(conn, credit=10_000)
        await make_sender(conn, account.id, "Herald")
    async with (
        Simulator(**sim_options) as sim,
        running(gateway_config(db_dsn, tmp_path, [bind_to(sim)])) as herald,
    ):
        yield Gateway(herald, sim, account.api_key)


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def people_csv(path: Path) -> Path:
    path.write_text(
        "phone,name,code\n+306940000010,Eleni,A1\nnot-a-number,Nikos,B2\n+306940000011,Maria,\n",
        encoding="utf-8",
    )
    return path


async def subprocess_cli(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald",
        "campaign",
        *args,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(stream: asyncio.StreamReader, text: str) -> str:
    seen = ""
    while text not in seen:
        line = await asyncio.wait_for(stream.readline(), 30)
        assert line, f"the stream ended before {text!r}: {seen!r}"
        seen += line.decode()
    return seen


async def test_campaigns_from_numbers_and_files_run_to_their_receipts(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    numbers = greek_mobiles(4)
    to_file = tmp_path / "numbers.txt"
    to_file.write_text("# customers\n" + "\n".join(numbers[1:]) + "\n\n12345\n", encoding="utf-8")
    people = people_csv(tmp_path / "people.csv")
    async with gateway(database, db_dsn, tmp_path) as gw:
        # Numbers, sent now, followed to the end. An invalid one refuses the campaign,
        # unless invalid numbers are ignored: then it is skipped.
        spring = [
            "campaign",
            "create",
            "--name",
            "Spring sale",
            "--sender",
            "Herald",
            "--message",
            "Hi %Name%",
            "--fallback",
            "name=there",
            "--to",
            numbers[0],
            "--to-file",
            str(to_file),
            "--no-quiet-hours",
        ]
        refused = await gw.cli(*spring)
        assert refused.exit_code == 1
        assert "invalid_numbers (HTTP 400)" in refused.output
        assert "to[4] '12345': invalid_number" in refused.output
        out = await gw.ok(*spring, "--ignore-invalid-numbers", "--wait", *FAST)
        assert "campaign 1 'Spring sale' created" in out
        assert "1 invalid number(s), skipped" in out and "to[4] '12345'" in out
        assert "run 1 started, batch 1, 4 message(s) queued" in out and "1 skipped" in out
        assert "4/4 sent 0 · delivered 4 · failed 0 · rejected 0 · unknown 0" in out  # the bar
        assert "4 of 4 message(s) final" in out and "campaign 1 is completed" in out
        assert _row(out, "delivered") == ["4"] and _row(out, "rejected") == ["0"]

        # A file on a scheduled campaign: good rows kept, the bad one named by row number.
        out = await gw.ok(
            "campaign",
            "create",
            "--name",
            "Newsletter",
            "--sender",
            "Herald",
            "--message",
            "Hi %Name%, code [~code]",
            "--fallback",
            "code=NONE",
            "--recipients-file",
            str(people),
            "--name-column",
            "name",
            "--label-column",
            "code",
            "--schedule",
            tomorrow(),
            "--no-quiet-hours",
        )
        assert "campaign 2 'Newsletter' created, scheduled for" in out
        assert "uploaded people.csv" in out and "bytes" in out  # the upload's bar
        assert "3 row(s) read, 2 good, 1 bad" in out and "row 3: 'not-a-number'" in out
        assert "run " not in out
        out = await gw.ok("campaign", "run", "2", "--description", "first wave", "--wait", *FAST)
        assert "run 1 started, batch 2, 2 message(s) queued" in out
        assert "2 of 2 message(s) final" in out and _row(out, "delivered") == ["2"]
        texts = {r.message_text for r in gw.sim.submits}
        assert {"Hi Eleni, code A1", "Hi Maria, code NONE", "Hi there"} <= texts

        out = await gw.ok("campaign", "status", "2")
        assert "Newsletter" in out and "first wave" in out and "2 file row(s)" in out
        assert _row(out, "delivered") == ["2", "2"]  # messages, segments
        detail = json.loads(await gw.ok("campaign", "status", "2", "--json"))
        assert detail["progress"]["messages"]["delivered"] == 2
        assert detail["audience"]["file_rows"] == 2

        # A file campaign to send now: held, filled, run; --json gives the API's answers.
        out = await gw.ok(
            "campaign",
            "create",
            "--name",
            "Flash sale",
            "--sender",
            "Herald",
            "--message",
            "Hi %Name%",
            "--recipients-file",
            str(people),
            "--name-column",
            "name",
            "--no-quiet-hours",
            "--wait",
            *FAST,
            "--json",
        )
        created, final = json_lines(out)
        assert created["scheduled_at"] is None and created["run"]["count"] == 2
        assert created["file"]["good"] == 2 and created["file"]["bad_rows"][0]["row"] == 3
        assert final["id"] == created["id"] and final["progress"]["messages"]["delivered"] == 2

        page = json.loads(
            await gw.ok("campaign", "list", "--sort", "name", "--asc", "--page-size", "2", "--json")
        )
        assert [c["name"] for c in page["items"]] == ["Flash sale", "Newsletter"]
        assert (page["total"], page["pages"]) == (3, 2)
        out = await gw.ok("campaign", "list", "--name-contains", "sale")
        assert "Spring sale" in out and "Flash sale" in out and "Newsletter" not in out
        assert "page 1 of 1, 2 campaign(s)" in out


async def test_suspend_resume_stop_and_waits_that_end_early(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # No receipts: sent messages are never final, so a wait goes on until told otherwise.
    async with gateway(database, db_dsn, tmp_path, receipts=False) as gw:
        out = await gw.ok(
            "campaign",
            "create",
            "--name",
            "Slow",
            "--sender",
            "Herald",
            "--message",
            "Hello",
            *[a for n in greek_mobiles(3) for a in ("--to", n)],
            "--schedule",
            tomorrow(),
            "--no-quiet-hours",
        )
        assert "scheduled for" in out

        # Ctrl-C ends the wait, not the campaign.
        proc = await subprocess_cli(gw.env, "run", "1", "--wait", *FAST)
        assert proc.stderr is not None and proc.stdout is not None
        await read_until(proc.stderr, "waiting for batch 1")
        await gw.sim.wait_for_submits(3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 130, stderr
        assert "run 1 started" in stdout.decode()
        assert "stopped waiting" in stderr.decode() and "goes on" in stderr.decode()

        assert "now suspended" in await gw.ok("campaign", "suspend", "1")
        again = await gw.cli("campaign", "suspend", "1")
        assert again.exit_code == 1
        assert "invalid_campaign_state (HTTP 409): campaign 1 is suspended" in again.output
        assert "allowed" in again.output
        assert "now running" in await gw.ok("campaign", "resume", "1")
        stopped = json.loads(await gw.ok("campaign", "stop", "1", "--json"))
        assert stopped["status"] == "stopped" and stopped["stopped_messages"] == 0
        assert stopped["progress"]["messages"]["sent"] == 3
        # Why and when it stopped, and that it will not run again by itself.
        shown = await gw.ok("campaign", "status", "1")
        assert "stopped_by_user" in shown and "stopped on request" in shown
        assert "none: it runs again only when asked" in shown

        # A wait ends when the campaign is stopped under it.
        proc = await subprocess_cli(gw.env, "run", "1", "--wait", *FAST)
        assert proc.stderr is not None
        await read_until(proc.stderr, "waiting for batch 2")
        assert "0 queued or deferred message(s) stopped" in await gw.ok("campaign", "stop", "1")
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, stderr
        assert "wait ended:" in stdout.decode() and "campaign 1 is stopped" in stdout.decode()
        resumed = await gw.cli("campaign", "resume", "1")
        assert resumed.exit_code == 1 and "invalid_campaign_state" in resumed.output


async def test_errors_name_the_problem(database: Database, db_dsn: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("phone\nnope\n\n12\n", encoding="utf-8")
    async with gateway(database, db_dsn, tmp_path) as gw:
        missing = await gw.cli("campaign", "status", "999999")
        assert missing.exit_code == 1
        assert "campaign_not_found (HTTP 404): no campaign with id 999999" in missing.output

        wrong = await gw.cli("campaign", "list", env={"HERALD_API_KEY": "hk_not-a-key"})
        assert wrong.exit_code == 1 and "unauthorized (HTTP 401)" in wrong.output
        none = await gw.cli("campaign", "list", env={"HERALD_API_KEY": None})
        assert none.exit_code == 2 and "no API key" in none.output

        invalid = await gw.cli(
            "campaign",
            "create",
            "--name",
            "x",
            "--sender",
            "Herald",
            "--message",
            "Hi",
            "--to",
            "+306940000001",
        )
        assert invalid.exit_code == 1
        assert "invalid_request (HTTP 422): body.name:" in invalid.output
        naive = await gw.cli(
            "campaign",
            "create",
            "--name",
            "Later",
            "--sender",
            "Herald",
            "--message",
            "Hi",
            "--schedule",
            "2030-05-01T09:00:00",
        )
        assert naive.exit_code == 2 and "needs a time zone" in naive.output
        reminder = await gw.cli(
            "campaign",
            "create",
            "--name",
            "Later",
            "--sender",
            "Herald",
            "--message",
            "Hi",
            "--to",
            "+306940000001",
            "--schedule",
            tomorrow(),
            "--reminder",
            "12",
        )
        assert reminder.exit_code == 1 and "invalid_numbers (HTTP 400)" in reminder.output
        assert "'12'" in reminder.output

        # A file without one good row: the error lists its rows, and nothing is kept.
        bad_file = await gw.cli(
            "campaign",
            "create",
            "--name",
            "Empty",
            "--sender",
            "Herald",
            "--message",
            "Hi",
            "--recipients-file",
            str(empty),
        )
        assert bad_file.exit_code == 1, bad_file.output
        assert "invalid_file (HTTP 400)" in bad_file.output
        assert "row 2: 'nope'" in bad_file.output and "row 4: '12'" in bad_file.output
        assert "campaign 1 was deleted again" in bad_file.output
        assert json.loads(await gw.ok("campaign", "list", "--json"))["total"] == 0

        # The address from the daemon's configuration, with the key still from the
        # environment (herald's own configuration does not take it for an [api] key).
        port = gw.herald.api_url.rsplit(":", 1)[1]
        config = tmp_path / "herald.toml"
        config.write_text(f'[api]\nhost = "0.0.0.0"\nport = {port}\n', encoding="utf-8")
        listed = await gw.cli(
            "campaign", "list", "--config", str(config), env={"HERALD_API_URL": None}
        )
        assert listed.exit_code == 0 and "0 campaign(s)" in listed.output

    # Nobody listening: say so, and how to start the daemon.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    proc = await subprocess_cli({"HERALD_API_URL": url, "HERALD_API_KEY": gw.key}, "list")
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert f"the herald daemon is not running at {url}" in stderr.decode()
    assert "make run" in stderr.decode() and "herald run" in stderr.decode()
    assert gw.key not in stderr.decode() + stdout.decode()


def _row(output: str, status: str) -> list[str]:
    """The numbers of a table row starting with `status` (the last such row)."""
    rows = [line for line in output.splitlines() if line.strip("│┃ ").startswith(status + " ")]
    assert rows, f"no {status!r} row in:\n{output}"
    cells = [c.strip() for c in rows[-1].replace("┃", "│").split("│") if c.strip()]
    return cells[1:]


async def test_deferred_messages_say_why_and_until_when(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    from zoneinfo import ZoneInfo

    athens = datetime.now(ZoneInfo("Europe/Athens"))
    window = f"{athens.hour:02d}:00-{(athens.hour + 2) % 24:02d}:00"  # now, and 2 hours on
    async with gateway(database, db_dsn, tmp_path) as gw:
        out = await gw.ok(
            "campaign",
            "create",
            "--name",
            "Night owls",
            "--sender",
            "Herald",
            "--message",
            "Hello",
            *[a for n in greek_mobiles(3) for a in ("--to", n)],
            "--quiet-window",
            window,
            "--wait",
            *FAST,
        )
        assert "3 deferred by quiet hours" in out  # the run's line
        assert "wait ended: the rest is deferred" in out
        line = "deferred: 3 message(s) for quiet hours at the destination, until "
        assert line in out
        assert line in await gw.ok("campaign", "status", "1")
        page = await gw.ok("campaign", "messages", "1")
        assert "deferred until" in page
