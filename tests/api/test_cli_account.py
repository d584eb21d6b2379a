"""`herald account create` prints a working key once; `herald account credit` adds credit."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from herald.cli.main import main as cli
from herald.store.accounts import account_for_key
from herald.store.db import Database


def herald(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


async def stored_account(dsn: str, key: str) -> Any:
    async with Database(dsn) as db, db.acquire() as conn:
        return await account_for_key(conn, key)


def test_create_prints_the_key_once_and_credit_adds(db_dsn: str, tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text(f'[database]\ndsn = "{db_dsn}"\n', encoding="utf-8")
    out = herald("account", "create", "acme", "--credit", "500", "--config", str(config))
    assert out.exit_code == 0, out.output
    key = re.search(r"API key:\s+(hk_\S+)", out.output)[1]  # type: ignore[index]
    secret = re.search(r"webhook secret:\s+(\S+)", out.output)[1]  # type: ignore[index]
    assert "credit 500 segments" in out.output
    account = asyncio.run(stored_account(db_dsn, key))
    assert account is not None and account["name"] == "acme"
    assert account["webhook_secret"] == secret and account["credit"] == 500

    out = herald("account", "credit", "acme", "250", "--config", str(config))
    assert out.exit_code == 0 and "credit 750 segments" in out.output
    refused = herald("account", "create", "acme", "--config", str(config))
    assert refused.exit_code == 1 and "already exists" in refused.output
    missing = herald("account", "credit", "nobody", "5", "--config", str(config))
    assert missing.exit_code == 1 and "no account named 'nobody'" in missing.output
    overdraw = herald("account", "credit", "--config", str(config), "acme", "--", "-751")
    assert overdraw.exit_code == 1 and "cannot take 751" in overdraw.output


def test_keys_are_listed_created_with_an_expiry_and_revoked(db_dsn: str, tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text(f'[database]\ndsn = "{db_dsn}"\n', encoding="utf-8")
    out = herald("account", "create", "acme", "--config", str(config))
    first = re.search(r"API key:\s+(hk_\S+)", out.output)[1]  # type: ignore[index]

    out = herald(
        "account",
        "keys",
        "create",
        "acme",
        "--name",
        "ci",
        "--expires-in",
        "90d",
        "--config",
        str(config),
    )
    assert out.exit_code == 0, out.output
    assert "key 'ci' created for 'acme'" in out.output and "expires" in out.output
    second = re.search(r"API key:\s+(hk_\S+)", out.output)[1]  # type: ignore[index]
    assert asyncio.run(stored_account(db_dsn, second))["name"] == "acme"

    listing = herald("account", "keys", "list", "acme", "--config", str(config))
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[1]: line for line in listing.output.splitlines()[1:]}
    assert set(rows) == {"default", "ci"}
    assert first[:8] in rows["default"] and "active" in rows["default"]
    assert first not in listing.output and second not in listing.output  # prefixes only

    out = herald("account", "keys", "revoke", "acme", "default", "--config", str(config))
    assert out.exit_code == 0 and "key 'default'" in out.output and "revoked at" in out.output
    assert asyncio.run(stored_account(db_dsn, first)) is None  # refused from now on
    refused = herald("account", "keys", "revoke", "acme", "ci", "--config", str(config))
    assert refused.exit_code == 1 and "last working key" in refused.output
    forced = herald("account", "keys", "revoke", "acme", "ci", "--force", "--config", str(config))
    assert forced.exit_code == 0, forced.output

    bad = herald(
        "account", "keys", "create", "acme", "--expires-in", "soon", "--config", str(config)
    )
    assert bad.exit_code == 2 and "not a duration like 90d" in bad.output
    nobody = herald("account", "keys", "list", "nobody", "--config", str(config))
    assert nobody.exit_code == 1 and "no account named 'nobody'" in nobody.output
    missing = herald("account", "keys", "revoke", "acme", "ghost", "--config", str(config))
    assert missing.exit_code == 1 and "no API key" in missing.output
