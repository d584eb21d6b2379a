"""`herald init` writes a sample configuration that runs as it is and never overwrites one;
`herald prune` says what it would delete, deletes it, and keeps the counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from herald.campaigns.progress import campaign_progress
from herald.cli.main import main as cli
from herald.config import load_config
from herald.store.db import Database
from tests.support.retention import finished_campaign

DAY = timedelta(days=1)


def herald(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_init_writes_a_sample_that_runs_and_never_overwrites(tmp_path: Path) -> None:
    here = tmp_path / "gateway"
    out = herald("init", str(here))
    assert out.exit_code == 0, out.output
    written = here / "herald.toml"
    assert f"herald run --config {written}" in out.output
    config = load_config(written, env={})
    assert config.state_dir == (here / "state").resolve()  # wherever herald is started from
    assert config.simulator.enabled and [b.name for b in config.binds] == ["simulator"]
    assert "# " in written.read_text(encoding="utf-8")  # annotated
    again = herald("init", str(here))
    assert again.exit_code == 1 and "exists already" in again.output
    assert load_config(written, env={}) == config


async def _old_campaign(dsn: str) -> tuple[int, dict[str, dict[str, int]]]:
    async with Database(dsn) as db:
        now = datetime.now(UTC)
        campaign, _ = await finished_campaign(db, 6, finished=now - 40 * DAY, now=now)
        async with db.acquire() as conn:
            return campaign, await campaign_progress(conn, campaign)


async def _counts(dsn: str, campaign: int) -> tuple[int, dict[str, dict[str, int]]]:
    async with Database(dsn) as db, db.acquire() as conn:
        left = await conn.fetchval("SELECT count(*) FROM messages WHERE campaign_id = $1", campaign)
        return left, await campaign_progress(conn, campaign)


def test_prune_dry_run_then_prune_keeps_the_counts(db_dsn: str, tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text(f'[database]\ndsn = "{db_dsn}"\n', encoding="utf-8")
    campaign, before = asyncio.run(_old_campaign(db_dsn))

    dry = herald("prune", "--older-than", "30d", "--dry-run", "--config", str(config))
    assert dry.exit_code == 0, dry.output
    assert "would delete 6 messages of 1 batches finished before" in dry.output
    assert "would delete 0 delivered or dead callbacks" in dry.output  # callbacks_days = 30
    assert asyncio.run(_counts(db_dsn, campaign))[0] == 6

    kept = herald("prune", "--older-than", "60d", "--config", str(config))
    assert kept.exit_code == 0 and "deleted 0 messages" in kept.output

    done = herald("prune", "--older-than", "30d", "--config", str(config))
    assert done.exit_code == 0, done.output
    assert "deleted 6 messages with 6 parts of 1 batches" in done.output
    assert "(their counts are kept)" in done.output
    left, after = asyncio.run(_counts(db_dsn, campaign))
    assert left == 0 and after == before

    bad = herald("prune", "--older-than", "soon", "--config", str(config))
    assert bad.exit_code == 2 and "'soon' is not a duration like 90d" in bad.output
