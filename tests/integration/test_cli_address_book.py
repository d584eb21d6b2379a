"""`herald sender|contact|group|blacklist|balance` and `herald campaign edit|delete|messages`
against a real daemon: a new account set up and used from the command line alone, every
command with --json, errors as JSON under --json (issue 23, item 19)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from herald.cli.main import main as cli
from herald.store.db import Database
from tests.integration.test_cli_campaigns import gateway
from tests.support.factories import greek_mobiles, make_account


async def test_a_new_account_is_set_up_and_used_from_the_command_line(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    numbers = greek_mobiles(4)
    async with gateway(database, db_dsn, tmp_path) as gw:
        async with database.acquire() as conn:
            fresh = await make_account(conn, credit=100)  # no sender yet

        async def ok(*args: str) -> str:
            # The variables `herald run` prints for its demo account.
            env = {"HERALD_URL": gw.herald.api_url, "HERALD_KEY": fresh.api_key}
            result = await gw.cli(
                *args, env={**env, "HERALD_API_URL": None, "HERALD_API_KEY": None}
            )
            assert result.exit_code == 0, result.output
            return result.output

        async def data(*args: str) -> Any:
            return json.loads(await ok(*args, "--json"))

        assert await data("sender", "list") == []
        assert "sender 'Acme' added (alphanumeric)" in await ok("sender", "add", "Acme")
        assert [s["address"] for s in await data("sender", "list")] == ["Acme"]

        eleni = await data("contact", "add", numbers[0], "--name", "Eleni", "--label", "code=A1")
        assert (eleni["phone"], eleni["labels"]) == (numbers[0], {"code": "A1"})
        nikos = await data("contact", "add", numbers[1], "--name", "Nikos")
        edited = await data("contact", "edit", str(nikos["id"]), "--label", "code=B2")
        assert edited["labels"] == {"code": "B2"} and edited["name"] == "Nikos"
        listed = await ok("contact", "list", "--name-contains", "ele")
        assert "Eleni" in listed and "Nikos" not in listed and "1 contact(s)" in listed
        people = tmp_path / "people.csv"
        people.write_text(f"Phone,Name,City\n{numbers[2]},Maria,Patras\nnope,X,\n", "utf-8")
        imported = await data("contact", "import", str(people))
        assert (imported["created"], len(imported["errors"])) == (1, 1)

        team = await data("group", "create", "Team")
        members = [str(eleni["id"]), str(nikos["id"]), *map(str, imported["contact_ids"])]
        assert "has 3 member(s)" in await ok("group", "add", str(team["id"]), *members)
        shown = await data("group", "show", str(team["id"]))
        assert shown["member_count"] == 3 and shown["members"]["total"] == 3
        await ok("group", "remove", str(team["id"]), str(nikos["id"]))
        assert (await data("group", "list"))["items"][0]["member_count"] == 2

        assert "1 number(s) blacklisted" in await ok("blacklist", "add", numbers[2])
        assert [e["phone"] for e in (await data("blacklist", "list"))["items"]] == [numbers[2]]

        created = await data(
            "campaign",
            "create",
            "--sender",
            "Acme",
            "--message",
            "Hi %Name%, [~code]",
            "--fallback",
            "code=none",
            "--fallback",
            "name=there",
            "--group",
            str(team["id"]),
            "--to",
            numbers[3],
            "--no-quiet-hours",
        )
        assert created["name"] == f"campaign {created['id']}"  # named by herald
        assert (created["run"]["count"], created["run"]["rejected"]) == (2, 1)  # one blacklisted
        page = await data("campaign", "messages", str(created["id"]), "--status", "rejected")
        assert [(m["phone"], m["reason"]) for m in page["items"]] == [(numbers[2], "blacklisted")]
        assert "blacklisted" in await ok("campaign", "messages", str(created["id"]))
        assert "no longer blacklisted" in await ok("blacklist", "remove", numbers[2])

        later = await data(
            "campaign",
            "create",
            "--name",
            "Later",
            "--sender",
            "Acme",
            "--message",
            "Soon",
            "--to",
            numbers[0],
            "--schedule",
            "2099-01-01T09:00:00+00:00",
        )
        changed = await data(
            "campaign", "edit", str(later["id"]), "--message", "Sooner", "--to", numbers[1]
        )
        assert changed["message"] == "Sooner" and changed["audience"]["numbers"] == 1
        assert "deleted" in await ok("campaign", "delete", str(later["id"]))

        money = await data("balance")
        assert money["credit"] == 98 and money["recent_batches"][0]["credit_used"] == 2
        assert "credit 98 segments" in await ok("balance")

        # Errors: for a person, the code and message; under --json, the API's error body.
        bad = await gw.cli(
            "sender",
            "add",
            "Way too long a sender",
            "--json",
            env={"HERALD_API_KEY": fresh.api_key},
        )
        assert bad.exit_code == 1
        error = json.loads(bad.stdout)["error"]
        assert error["code"] == "invalid_sender" and "too long" in error["message"]
        gone = await gw.cli("campaign", "delete", "999999", env={"HERALD_API_KEY": fresh.api_key})
        assert gone.exit_code == 1 and "campaign_not_found (HTTP 404)" in gone.output
        away = await gw.cli("balance", "--json", env={"HERALD_API_URL": "http://127.0.0.1:9"})
        assert away.exit_code == 1
        assert json.loads(away.stdout)["error"]["code"] == "unreachable"
        nokey = await gw.cli("balance", "--json", env={"HERALD_API_KEY": None})
        assert nokey.exit_code == 2 and json.loads(nokey.stdout)["error"]["code"] == "no_api_key"


def test_shell_completion_scripts() -> None:
    for shell, marker in (("bash", "complete -o nosort"), ("zsh", "compdef"), ("fish", "complete")):
        result = CliRunner().invoke(cli, ["completion", shell])
        assert result.exit_code == 0 and "_HERALD_COMPLETE" in result.output
        assert marker in result.output
    # What the script asks for: the commands, completed.
    result = CliRunner().invoke(
        cli,
        [],
        env={"_HERALD_COMPLETE": "bash_complete", "COMP_WORDS": "herald co", "COMP_CWORD": "1"},
    )
    assert {"contact", "completion"} <= {line.split(",")[-1] for line in result.output.split()}
