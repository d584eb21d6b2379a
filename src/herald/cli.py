"""The `herald` command line: parses arguments and calls into the package.

Each command imports what it needs lazily, so `herald preview` does not pay for asyncpg or
FastAPI imports.
"""

from __future__ import annotations

import click

from herald import __version__


@click.group()
@click.version_option(__version__, prog_name="herald")
def main() -> None:
    """herald: an asyncio SMS campaign gateway speaking SMPP 3.4."""


@main.command()
@click.option(
    "--dsn", envvar="HERALD_DSN", default=None,
    help="DSN of an existing PostgreSQL (or HERALD_DSN). Without one, the embedded server "
    "in --state-dir is started for the occasion.",
)
@click.option(
    "--state-dir", envvar="HERALD_STATE_DIR", default="state", show_default=True,
    type=click.Path(file_okay=False), help="herald's state directory (embedded PostgreSQL).",
)
def migrate(dsn: str | None, state_dir: str) -> None:
    """Apply pending database migrations; safe while other herald processes run."""
    import asyncio
    from pathlib import Path

    from herald.errors import StoreError
    from herald.store.db import migrate_database, redact_dsn

    where = redact_dsn(dsn) if dsn else f"the embedded PostgreSQL in {state_dir}"
    try:
        applied = asyncio.run(migrate_database(dsn, state_dir=Path(state_dir)))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"{where}: schema up to date ({len(applied)} applied)")
