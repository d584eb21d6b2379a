"""`herald message ...`: messages one by one through a running daemon's HTTP API.

    herald message send --from Herald --to +306948530920 "Your code is 4521"
    herald message show 1234

Like `herald campaign`, it finds the daemon and the account's key as herald.cli.api says
(--api or HERALD_URL, HERALD_KEY), prints for a person unless --json, and exits 1 naming the
API's error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from herald.cli.api import api_command, echo_json, json_option
from herald.cli.campaigns import _pairs, _windows

if TYPE_CHECKING:
    from herald.cli.client import ApiClient


@click.group()
def message() -> None:
    """Messages one by one on a running daemon (`herald run`), through its HTTP API: to one
    number or up to 1,000, sent now as transactional traffic.

    Point at the daemon with --api URL or HERALD_URL and give an account's key in
    HERALD_KEY. --json prints the API's answers as they are.
    """


@message.command("send")
@click.option("--from", "sender", required=True, metavar="SENDER", help="One of your senders.")
@click.option(
    "--to",
    "numbers",
    required=True,
    multiple=True,
    metavar="NUMBER",
    help="A number (repeatable, up to 1,000).",
)
@click.option(
    "--value",
    "values",
    multiple=True,
    callback=_pairs,
    metavar="LABEL=VALUE",
    help="A value for the text's %Label% or [~label] (repeatable).",
)
@click.option("--flash", is_flag=True, help="Class 0: shown, not stored.")
@click.option("--transcode", is_flag=True, help="Replace look-alikes to stay in GSM-7.")
@click.option(
    "--validity",
    type=click.IntRange(1, 7 * 24 * 60),
    metavar="MINUTES",
    help="How long the carrier keeps trying (default: the bind's).",
)
@click.option(
    "--quiet-hours",
    "quiet",
    multiple=True,
    callback=_windows,
    metavar="FROM-TO",
    help="Hold it during this local-time window (repeatable, e.g. 23:00-08:00).",
)
@click.option("--respect-quiet-hours", is_flag=True, help="Hold it during the default quiet hours.")
@click.option("--callback", metavar="URL", help="Per-message status webhook.")
@click.option("--client-ref", metavar="REF", help="Your own reference (up to 64 characters).")
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Send it again with the same key and nothing new goes out (within 24 h).",
)
@json_option
@click.argument("text")
@api_command
def send(
    client: ApiClient,
    sender: str,
    numbers: tuple[str, ...],
    values: dict[str, str],
    flash: bool,
    transcode: bool,
    validity: int | None,
    quiet: list[dict[str, str]],
    respect_quiet_hours: bool,
    callback: str | None,
    client_ref: str | None,
    idempotency_key: str | None,
    as_json: bool,
    text: str,
) -> None:
    """Send TEXT to each --to number: one message each, answered with its id."""
    body: dict[str, Any] = {
        "to": list(numbers),
        "sender": sender,
        "text": text,
        "values": values,
        "flash": flash,
        "transcode": transcode,
        "respect_quiet_hours": respect_quiet_hours or bool(quiet),
    }
    for key, value in (
        ("validity", validity),
        ("quiet_hours", quiet or None),
        ("callback", callback),
        ("client_ref", client_ref),
    ):
        if value is not None:
            body[key] = value
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    sent = client.post("/messages", body, headers=headers)
    if as_json:
        echo_json(sent)
        return
    for m in sent["messages"]:
        what = f"{m['status']}" + (f" ({m['reason']})" if m["reason"] else "")
        cost = f"{m['encoding']}, {m['segments']} segment(s)" if m["segments"] else "no credit"
        click.echo(f"message {m['id']} to {m['to']}: {what}, {cost}")
    click.echo(
        f"{sent['count']} queued, {sent['rejected']} rejected, "
        f"{sent['credit_used']} segment(s) of credit used"
    )


@message.command("show")
@click.argument("message_id", metavar="ID", type=click.IntRange(min=1))
@json_option
@api_command
def show(client: ApiClient, message_id: int, as_json: bool) -> None:
    """A message's status and each part's submit and receipt."""
    shown = client.get(f"/messages/{message_id}")
    if as_json:
        echo_json(shown)
        return
    reason = f" ({shown['reason']})" if shown["reason"] else ""
    click.echo(f"message {shown['id']} to {shown['phone']} from {shown['sender']}")
    click.echo(f"status     {shown['status']}{reason}")
    if shown["client_ref"]:
        click.echo(f"client_ref {shown['client_ref']}")
    click.echo(f"text       {shown['text']}")
    click.echo(f"encoding   {shown['encoding']}, {shown['segments']} segment(s)")
    for part in shown["parts"]:
        receipt = part["receipt_at"] or "-"
        click.echo(
            f"  part {part['seq']}: {part['state']}, id {part['smsc_message_id'] or '-'}, "
            f"receipt {receipt}"
        )
