"""The `herald` command line: parses arguments and calls into the package.

Each command imports what it needs lazily, so `herald preview` does not pay for asyncpg or
FastAPI imports.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from herald import __version__
from herald.cli.address_book import balance, blacklist, contact, group, sender
from herald.cli.campaigns import campaign
from herald.simulator.personalities import PERSONALITIES

if TYPE_CHECKING:
    from herald.smpp.session_settings import BindType


@click.group()
@click.version_option(__version__, prog_name="herald")
def main() -> None:
    """herald: an asyncio SMS campaign gateway speaking SMPP 3.4."""


# Through a running daemon's API (herald.cli.campaigns, herald.cli.address_book).
for command in (campaign, sender, contact, group, blacklist, balance):
    main.add_command(command)


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL: commands, options and choices complete
    on Tab. Load it in the shell's start-up file, e.g. for bash in ~/.bashrc:

    \b
        eval "$(herald completion bash)"
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the choices are click's own shells
    click.echo(completer(main, {}, "herald", "_HERALD_COMPLETE").source())


@main.command()
@click.option(
    "--concat",
    type=click.Choice(["udh8", "udh16", "sar", "payload"]),
    default="udh8",
    show_default=True,
    help="How long messages are concatenated.",
)
@click.option(
    "--national",
    default="",
    metavar="LIST",
    help="National tables allowed, comma separated: tr, es, pt.",
)
@click.option("--flash", is_flag=True, help="Class 0 (flash) data_coding.")
@click.option("--transcode", is_flag=True, help="Replace non-GSM look-alikes (quotes, accents).")
@click.option("--reference", default=0, show_default=True, help="Concatenation reference.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.argument("text")
def preview(
    concat: str,
    national: str,
    flash: bool,
    transcode: bool,
    reference: int,
    as_json: bool,
    text: str,
) -> None:
    """Show how TEXT would be encoded and split into SMS parts."""
    import json

    from herald.errors import TextError
    from herald.text import encode_message
    from herald.text.describe import describe, summary

    try:
        message = encode_message(
            text,
            concat=concat,
            national=national,
            flash=flash,
            transcode=transcode,
            reference=reference,
        )
    except TextError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(describe(message, with_text=transcode), ensure_ascii=False))
    else:
        click.echo(summary(message, with_text=transcode))


@main.command()
@click.option("--smsc", required=True, metavar="HOST:PORT", help="The SMSC to bind to.")
@click.option("--system-id", required=True, help="Bind system_id.")
@click.option("--password", required=True, help="Bind password.")
@click.option("--system-type", default="", help="Bind system_type.")
@click.option(
    "--bind",
    "bind_type",
    type=click.Choice(["trx", "tx"]),
    default="trx",
    show_default=True,
    help="Transceiver or transmitter bind.",
)
@click.option(
    "--from",
    "sender",
    required=True,
    metavar="SENDER",
    help="Alphanumeric (up to 11), short code, or international number.",
)
@click.option(
    "--to",
    "to",
    required=True,
    metavar="NUMBER",
    help="Destination, international form (+447700900123).",
)
@click.option("--flash", is_flag=True, help="Class 0 (flash) message.")
@click.option(
    "--wait-receipt",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Wait this long for each part's final receipt (needs --bind trx).",
)
@click.option(
    "--id-mode",
    default="as_is",
    show_default=True,
    type=click.Choice(["as_is", "submit_hex_dlr_dec", "submit_dec_dlr_hex", "hex", "dec"]),
    help="How receipt ids relate to submit_sm_resp ids.",
)
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to connect and bind, and to wait for each response.",
)
@click.argument("text")
def send(
    smsc: str,
    system_id: str,
    password: str,
    system_type: str,
    bind_type: BindType,  # one of click.Choice's
    sender: str,
    to: str,
    flash: bool,
    wait_receipt: float | None,
    id_mode: str,
    timeout: float,
    text: str,
) -> None:
    """Send TEXT through one bind, one submit_sm per part: one JSON line per part on stdout;
    exit status 1 naming the SMPP status when a part fails."""
    import sys

    from herald.cli.send import SendRequest, check, parse_smsc
    from herald.cli.send import run as run_send
    from herald.errors import HeraldError

    try:
        host, port = parse_smsc(smsc)
        request = SendRequest(
            host=host,
            port=port,
            system_id=system_id,
            password=password,
            system_type=system_type,
            bind=bind_type,
            sender=sender,
            to=to,
            text=text,
            flash=flash,
            wait_receipt=wait_receipt,
            id_mode=id_mode,
            timeout=timeout,
        )
        check(request)
    except HeraldError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        code = run_send(request)
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.group()
def account() -> None:
    """Accounts of the campaign API: create one (prints its API key once), add credit,
    manage its API keys, set its fair share."""


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML configuration file (default: built-in defaults + HERALD_ variables); its "
    "database (or the embedded one in its state_dir) is used.",
)


@account.command("create")
@click.option(
    "--credit",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Starting credit, in segments.",
)
@_config_option
@click.argument("name")
def account_create(credit: int, config_path: str | None, name: str) -> None:
    """Create account NAME; print its API key and webhook secret (shown only this once)."""
    import asyncio

    from herald.campaigns.accounts import create_account
    from herald.config import load_config
    from herald.errors import HeraldError

    try:
        created = asyncio.run(create_account(load_config(config_path), name, credit))
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"account {created.name!r} created (id {created.id}), credit {credit} segments")
    click.echo(f"API key:        {created.api_key}")
    click.echo(f"webhook secret: {created.webhook_secret}")
    click.echo("Keep both now: herald stores only a hash of the key and shows neither again.")


@account.command("credit")
@_config_option
@click.argument("name")
@click.argument("segments", type=int)
def account_credit(config_path: str | None, name: str, segments: int) -> None:
    """Add SEGMENTS of credit to account NAME (use -- -N to take some off)."""
    import asyncio

    from herald.campaigns.accounts import add_credit
    from herald.config import load_config
    from herald.errors import HeraldError

    try:
        credit = asyncio.run(add_credit(load_config(config_path), name, segments))
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"account {name!r}: credit {credit} segments")


@account.group("keys")
def account_keys() -> None:
    """API keys of an account: several per account, each with a name and an optional
    expiry. Revoking one takes effect at the next request, in every herald process."""


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class _Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value))
        if match is None or int(match[1]) == 0:
            self.fail(f"{value!r} is not a duration like 90d, 12h, 2w or 30m", param, ctx)
        return timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})


@account_keys.command("list")
@_config_option
@click.argument("account_name", metavar="ACCOUNT")
def account_keys_list(config_path: str | None, account_name: str) -> None:
    """List ACCOUNT's keys (prefixes only: herald keeps a hash of each key)."""
    import asyncio
    from datetime import UTC, datetime

    from herald.campaigns.keys import list_account_keys
    from herald.config import load_config
    from herald.errors import HeraldError

    try:
        keys = asyncio.run(list_account_keys(load_config(config_path), account_name))
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    now = datetime.now(UTC)
    click.echo(
        f"{'ID':>6}  {'NAME':<24} {'PREFIX':<10} {'STATE':<8} {'CREATED':<20} "
        f"{'EXPIRES':<20} LAST USED"
    )
    for key in keys:
        click.echo(
            f"{key.id:>6}  {key.name[:24]:<24} {key.prefix:<10} {key.state(now):<8} "
            f"{_when(key.created_at):<20} {_when(key.expires_at):<20} {_when(key.last_used_at)}"
        )


@account_keys.command("create")
@click.option("--name", default=None, help="Name of the key (default: key-<date>-<time>).")
@click.option(
    "--expires-in",
    type=_Duration(),
    default=None,
    help="Lifetime, e.g. 90d, 12h, 2w, 30m (default: no expiry).",
)
@_config_option
@click.argument("account_name", metavar="ACCOUNT")
def account_keys_create(
    name: str | None, expires_in: timedelta | None, config_path: str | None, account_name: str
) -> None:
    """Create a key for ACCOUNT and print it (shown only this once)."""
    import asyncio
    from datetime import UTC, datetime

    from herald.campaigns.keys import create_account_key
    from herald.config import load_config
    from herald.errors import HeraldError

    now = datetime.now(UTC)
    name = name if name is not None else f"key-{now:%Y%m%d-%H%M%S}"
    expires_at = now + expires_in if expires_in is not None else None
    try:
        created = asyncio.run(
            create_account_key(load_config(config_path), account_name, name, expires_at)
        )
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    key = created.key
    expiry = f", expires {_when(key.expires_at)}" if key.expires_at else ", never expires"
    click.echo(f"key {key.name!r} created for {account_name!r} (id {key.id}{expiry})")
    click.echo(f"API key: {created.api_key}")
    click.echo("Keep it now: herald stores only a hash of the key and never shows it again.")


@account_keys.command("revoke")
@click.option("--force", is_flag=True, help="Revoke even the account's last working key.")
@_config_option
@click.argument("account_name", metavar="ACCOUNT")
@click.argument("key_ref", metavar="KEY")
def account_keys_revoke(
    force: bool, config_path: str | None, account_name: str, key_ref: str
) -> None:
    """Revoke KEY (its id, or the name of a live key) of ACCOUNT: from the next request on it
    answers 401, in every herald process."""
    import asyncio

    from herald.campaigns.keys import revoke_account_key
    from herald.config import load_config
    from herald.errors import HeraldError

    try:
        key = asyncio.run(
            revoke_account_key(load_config(config_path), account_name, key_ref, force=force)
        )
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    assert key.revoked_at is not None
    click.echo(f"key {key.name!r} (id {key.id}, {key.prefix}…) revoked at {_when(key.revoked_at)}")


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") + "Z" if at is not None else "-"


@account.command("share")
@click.option(
    "--weight",
    type=click.IntRange(1, 1000),
    default=None,
    help="Its share of each route against the other accounts sending (default 1).",
)
@click.option(
    "--priority",
    type=click.IntRange(-100, 100),
    default=None,
    help="Accounts of higher priority are served first (default 0).",
)
@_config_option
@click.argument("name")
def account_share(
    weight: int | None, priority: int | None, config_path: str | None, name: str
) -> None:
    """Show, or set, account NAME's fair share of the carriers' capacity."""
    import asyncio

    from herald.campaigns.accounts import set_share
    from herald.config import load_config
    from herald.errors import HeraldError

    try:
        share = asyncio.run(set_share(load_config(config_path), name, weight, priority))
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"account {name!r}: weight {share.weight}, priority {share.priority}")


@main.command()
@click.option(
    "--dsn",
    envvar="HERALD_DSN",
    default=None,
    help="DSN of an existing PostgreSQL (or HERALD_DSN). Without one, the embedded server "
    "in --state-dir is started for the occasion.",
)
@click.option(
    "--state-dir",
    envvar="HERALD_STATE_DIR",
    default="state",
    show_default=True,
    type=click.Path(file_okay=False),
    help="herald's state directory (embedded PostgreSQL).",
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


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML configuration file (default: built-in defaults + HERALD_ variables).",
)
def run(config_path: str | None) -> None:
    """Run the gateway: API, dispatcher, tracker, binds, scheduler, callbacks, metrics."""
    from herald.config import load_config
    from herald.daemon import run_forever
    from herald.errors import HeraldError

    try:
        config = load_config(config_path)
    except HeraldError as exc:
        raise click.ClickException(str(exc)) from None
    run_forever(config)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=2775, show_default=True, help="Port to listen on (0: any free).")
@click.option(
    "--personality",
    default="happy",
    show_default=True,
    metavar="NAME[+NAME...]",
    help=f"{', '.join(PERSONALITIES)}; combine with '+'. The options below override it.",
)
@click.option("--system-id", help="Accepted system_id [herald].")
@click.option("--password", help="Its password [secret].")
@click.option("--accept-any", is_flag=True, default=None, help="Accept any credentials.")
@click.option("--receipts/--no-receipts", default=None, help="Honour registered_delivery.")
@click.option(
    "--receipt-delay",
    metavar="MS[-MS]|exp:MEAN[:CAP]",
    help="Receipt delay after the response: fixed, uniform or exponential (ms).",
)
@click.option(
    "--receipt-format",
    type=click.Choice(["both", "text", "tlv"]),
    help="Receipts with TLVs and text, text only or TLVs only.",
)
@click.option(
    "--outcomes",
    metavar="STAT=W,...",
    help="Final states by weight, e.g. "
    "DELIVRD=90,UNDELIV=10 (DELIVRD UNDELIV EXPIRED REJECTD DELETED UNKNOWN).",
)
@click.option(
    "--intermediate",
    type=click.Choice(["ENROUTE", "ACCEPTD"], case_sensitive=False),
    help="Send this intermediate receipt first.",
)
@click.option(
    "--early-receipt",
    is_flag=True,
    default=None,
    help="Send each receipt before its submit_sm_resp.",
)
@click.option(
    "--deliver-window", type=int, help="Unanswered deliver_sm at once per connection (0: no limit)."
)
@click.option("--id-format", type=click.Choice(["hex", "dec"]), help="Message ids [hex].")
@click.option("--id-case", type=click.Choice(["lower", "upper"]), help="Hex digit case.")
@click.option("--id-width", type=int, help="Zero-pad message ids to this width.")
@click.option(
    "--receipt-id-format",
    type=click.Choice(["same", "hex", "dec"]),
    help="Base of the id in receipt text (Nexmo: hex ids, dec receipts).",
)
@click.option("--receipt-id-width", type=int, help="Zero-pad receipt text ids to this width.")
@click.option("--latency", metavar="MS[-MS]", help="Delay before each submit_sm_resp.")
@click.option("--throttle-rate", type=float, help="ESME_RTHROTTLED above this many submits/s.")
@click.option("--throttle-burst", type=int, help="Token bucket depth for --throttle-rate.")
@click.option("--throttle-status", metavar="STATUS", help="e.g. ESME_RMSGQFUL instead.")
@click.option(
    "--error",
    "errors",
    multiple=True,
    metavar="STATUS=SHARE",
    help="Answer a share of submits with STATUS, e.g. 0x45=0.1 (repeatable).",
)
@click.option("--unbind-after", type=int, help="Send unbind after N submits on a connection.")
@click.option("--drop-after", type=int, help="Close TCP after N PDUs on a connection.")
@click.option("--drop-probability", type=float, help="Abort TCP on this share of PDUs.")
@click.option("--bind-status", metavar="STATUS", help="Refuse every bind with STATUS.")
@click.option("--seed", type=int, help="Seed of every random choice [0].")
@click.option(
    "--record", type=click.Path(dir_okay=False), help="Append decoded submits here as JSON lines."
)
@click.option(
    "--track-duplicates",
    is_flag=True,
    default=None,
    help="Count messages accepted twice (destination, text).",
)
@click.option(
    "--loop",
    type=click.Choice(["auto", "uvloop", "asyncio"]),
    default="auto",
    show_default=True,
    help="Event loop (auto: uvloop when installed).",
)
def simulate(personality: str, loop: str, **options: object) -> None:
    """Run the SMSC simulator until SIGINT/SIGTERM; print its address, then its counters."""
    from herald.simulator.run import main as run_simulator

    try:
        run_simulator(personality, loop, options, echo=click.echo)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
