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
