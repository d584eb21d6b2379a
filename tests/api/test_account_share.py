"""`herald account share` sets an account's weight and priority; the API shows them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

from herald.cli.main import main as cli
from herald.store.balance import set_share_by_name
from herald.store.db import Database
from tests.api.conftest import Api


def herald(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


async def share_of(dsn: str, name: str) -> tuple[int, int]:
    async with Database(dsn) as db, db.acquire() as conn:
        row = await conn.fetchrow("SELECT weight, priority FROM accounts WHERE name = $1", name)
    return row["weight"], row["priority"]


def test_share_sets_weight_and_priority_and_refuses_what_is_out_of_range(
    db_dsn: str, tmp_path: Path
) -> None:
    config = tmp_path / "herald.toml"
    config.write_text(f'[database]\ndsn = "{db_dsn}"\n', encoding="utf-8")
    assert herald("account", "create", "acme", "--config", str(config)).exit_code == 0
    shown = herald("account", "share", "acme", "--config", str(config))
    assert shown.exit_code == 0 and "weight 1, priority 0" in shown.output  # the defaults
    out = herald("account", "share", "acme", "--weight", "3", "--config", str(config))
    assert out.exit_code == 0 and "weight 3, priority 0" in out.output
    out = herald("account", "share", "acme", "--priority", "-2", "--config", str(config))
    assert out.exit_code == 0 and "weight 3, priority -2" in out.output  # weight kept
    assert asyncio.run(share_of(db_dsn, "acme")) == (3, -2)

    zero = herald("account", "share", "acme", "--weight", "0", "--config", str(config))
    assert zero.exit_code == 2 and "--weight" in zero.output and "1<=x<=1000" in zero.output
    high = herald("account", "share", "acme", "--priority", "101", "--config", str(config))
    assert high.exit_code == 2 and "--priority" in high.output
    missing = herald("account", "share", "nobody", "--weight", "2", "--config", str(config))
    assert missing.exit_code == 1 and "no account named 'nobody'" in missing.output
    assert asyncio.run(share_of(db_dsn, "acme")) == (3, -2)


async def test_the_account_shows_its_share(api: Api) -> None:
    acme = await api.account()
    r = await acme.http.get("/account")
    assert r.status_code == 200 and (r.json()["weight"], r.json()["priority"]) == (1, 0)
    async with api.db.acquire() as conn:  # the operator's `herald account share`
        assert await set_share_by_name(conn, "acme", 4, None) is not None
        assert await set_share_by_name(conn, "nobody", 4, None) is None
    r = await acme.http.get("/account")
    assert (r.json()["weight"], r.json()["priority"]) == (4, 0)
