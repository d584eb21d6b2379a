"""`herald campaign ...`: campaigns through a running daemon's HTTP API.

Every command takes `--api URL` (or HERALD_URL) and `--key` (or, better, HERALD_KEY): see
herald.cli.api. Output is for a person (rich tables) unless `--json`, which prints the API's
JSON answer for scripts. An error the API answers is printed with its code, message and the
useful part of its details (exit status 1), or as the API's JSON error body under `--json`.

Like the rest of the command line, commands import httpx and rich only when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import click

from herald.cli.api import api_command, echo_json, json_option, note, page_options
from herald.states import CAMPAIGN, MESSAGE

if TYPE_CHECKING:
    from herald.cli.client import ApiClient

CAMPAIGN_STATUSES = CAMPAIGN.states
# herald.campaigns.service.SORT_FIELDS, which the command line does not import (it would load
# the server's database stack at every start); a test checks the two agree.
SORT_FIELDS = ("id", "name", "status", "created_at", "updated_at", "scheduled_at")
HOLD = timedelta(days=1)  # a file campaign to send now is created this far ahead, then run
INTERRUPTED = 130  # exit status after Ctrl-C ended a wait (the campaign goes on)


@click.group()
def campaign() -> None:
    """Campaigns on a running daemon (`herald run`), through its HTTP API.

    Point at the daemon with --api URL or HERALD_URL (default: [api] of --config FILE,
    else http://127.0.0.1:8080) and give an account's key in HERALD_KEY (`herald run` prints
    the demo account's, `herald account create NAME` a new one's). --json prints the API's
    answers as they are, errors included.
    """


_id_argument = click.argument("campaign_id", metavar="ID", type=click.IntRange(min=1))
_wait_options = [
    click.option(
        "--wait",
        is_flag=True,
        help="Show a progress bar until the run's messages "
        "are all final (Ctrl-C stops waiting, not the campaign).",
    ),
    click.option(
        "--interval",
        type=click.FloatRange(min=0.01),
        default=1.0,
        show_default=True,
        help="Seconds between progress polls with --wait.",
    ),
]


def _wait_option(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_wait_options):
        command = option(command)
    return command


# --- create -------------------------------------------------------------------------------------


def _aware_datetime(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date and time, e.g. 2030-05-01T09:00:00+03:00"
        ) from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a time zone, e.g. {value}+03:00 or {value}Z")
    return when.isoformat()


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        label, sep, text = value.partition("=")
        if not sep or not label.strip():
            raise click.BadParameter(f"{value!r} is not LABEL=VALUE")
        pairs[label.strip()] = text
    return pairs


def _windows(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[dict[str, str]]:
    windows = []
    for value in values:
        start, sep, end = value.partition("-")
        if not sep:
            raise click.BadParameter(f"{value!r} is not FROM-TO, e.g. 23:00-08:00")
        windows.append({"from": start.strip(), "to": end.strip()})
    return windows


def _numbers(file: TextIO | None) -> list[str]:
    if file is None:
        return []
    lines = (line.strip() for line in file)
    return [line for line in lines if line and not line.startswith("#")]


@campaign.command("create")
@click.option(
    "--name",
    help="2 to 30 letters, digits, spaces and '-'; unique in the account [default: herald "
    "names it 'campaign <id>'].",
)
@click.option("--sender", required=True, help="One of the account's senders.")
@click.option(
    "--message",
    required=True,
    metavar="TEXT",
    help="The template: %Name%, %Label% and [~label] placeholders.",
)
@click.option(
    "--to", "numbers", multiple=True, metavar="NUMBER", help="A recipient's number (repeatable)."
)
@click.option(
    "--to-file",
    type=click.File("r", encoding="utf-8-sig"),
    help="Numbers, one per line (blank lines and # comments skipped).",
)
@click.option(
    "--recipients-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV or XLSX with a header row, uploaded after the campaign is created.",
)
@click.option(
    "--phone-column",
    default="phone",
    show_default=True,
    metavar="COLUMN",
    help="The file's phone column: header text, number (1 is the first) or letter.",
)
@click.option("--name-column", metavar="COLUMN", help="The file's name column (for %Name%).")
@click.option(
    "--label-column",
    "label_columns",
    multiple=True,
    metavar="COLUMN",
    help="A file column whose values become labels (repeatable; '*' for every other column).",
)
@click.option("--sheet", help="The XLSX worksheet, by name or number.")
@click.option(
    "--header/--no-header",
    default=None,
    help="Whether the file's first row names its columns [default: it does, unless the phone "
    "column is given by number or letter and holds a number on that row].",
)
@click.option(
    "--contact",
    "contacts",
    multiple=True,
    metavar="ID",
    type=click.IntRange(min=1),
    help="A contact id (repeatable).",
)
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="ID",
    type=click.IntRange(min=1),
    help="A group id (repeatable).",
)
@click.option(
    "--fallback",
    "fallbacks",
    multiple=True,
    metavar="LABEL=VALUE",
    callback=_pairs,
    help="The value for recipients without the label (repeatable).",
)
@click.option("--flash", is_flag=True, help="Class 0 (flash) messages: shown, not stored.")
@click.option("--transcode", is_flag=True, help="Replace look-alike characters to stay GSM-7.")
@click.option(
    "--quiet-hours/--no-quiet-hours",
    default=None,
    help="Hold messages during quiet hours, destination local time [API default: hold].",
)
@click.option(
    "--quiet-window",
    "quiet_windows",
    multiple=True,
    metavar="FROM-TO",
    callback=_windows,
    help="A quiet window, e.g. 23:00-08:00 (repeatable; default "
    "the daemon's campaigns.quiet_hours).",
)
@click.option(
    "--schedule",
    metavar="ISO8601",
    callback=_aware_datetime,
    help="When to send, with a time zone (2030-05-01T09:00:00+03:00); absent: now.",
)
@click.option("--callback", metavar="URL", help="Webhook for each message's status.")
@click.option("--campaign-callback", metavar="URL", help="Webhook for the campaign's events.")
@click.option(
    "--reminder",
    "reminders",
    multiple=True,
    metavar="NUMBER",
    help="A test number that gets the message before the scheduled run (repeatable; "
    "needs --schedule).",
)
@click.option(
    "--reminder-minutes",
    type=click.IntRange(1, 7 * 24 * 60),
    default=60,
    show_default=True,
    help="How long before the scheduled run reminders go.",
)
@click.option(
    "--mobiles-only",
    is_flag=True,
    help="Refuse numbers that are not mobile ones (fixed line, toll free...): not_mobile.",
)
@click.option(
    "--ignore-invalid-numbers",
    is_flag=True,
    help="Send to the valid numbers and skip invalid ones (else an invalid number refuses "
    "the campaign, listing each).",
)
@click.option(
    "--track-link-url",
    metavar="URL",
    help="Where %Link% takes each recipient, through a short link of their own that counts "
    "the click.",
)
@click.option(
    "--track-link-param",
    "track_link_params",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_pairs,
    help="A query parameter added to --track-link-url, e.g. utm_source=sms (repeatable).",
)
@click.option(
    "--opt-out-link", is_flag=True, help="%OptOutLink% places a link that opts the recipient out."
)
@_wait_option
@json_option
@api_command
def create(
    client: ApiClient,
    *,
    numbers: tuple[str, ...],
    to_file: TextIO | None,
    recipients_file: Path | None,
    phone_column: str,
    name_column: str | None,
    label_columns: tuple[str, ...],
    sheet: str | None,
    header: bool | None,
    schedule: str | None,
    reminders: tuple[str, ...],
    reminder_minutes: int,
    wait: bool,
    interval: float,
    as_json: bool,
    **fields: Any,
) -> None:
    """Create a campaign: sent now, unless --schedule says when.

    Recipients are any mix of --to, --to-file, --contact, --group and one --recipients-file.
    Without a file this is one request (POST /v1/campaigns): a campaign to send now is run at
    once, and if that run is refused (no credit, nobody to send to) nothing is kept.

    \b
    The API takes a recipients file only for a scheduled campaign, so with one:
      1. the campaign is created scheduled: at --schedule, or, to send now, a day
         ahead (it is run in step 3, long before that);
      2. the file is uploaded, with a progress bar (bytes and rate), and its good and
         bad rows are reported (bad rows by row number; the header is row 1);
      3. without --schedule, the campaign is run.
    If the upload or that run is refused (or interrupted), the campaign is deleted again.

    --wait follows the run started now as `herald campaign run --wait` does. --json prints
    the API's answer (with a file: the campaign read at the end, plus `intake`, `run` and
    the upload's answer as `file`); with --wait, the final campaign on a second line.
    """
    if reminders and schedule is None:
        raise click.UsageError(
            "--reminder needs --schedule: reminders go a set time before the scheduled run"
        )
    if wait and schedule is not None:
        raise click.UsageError("--wait follows a run started now: not with --schedule")
    body = _campaign_body(
        fields, [*numbers, *_numbers(to_file)], schedule, reminders, reminder_minutes
    )
    if recipients_file is None:
        created = client.post("/campaigns", body)
        run, shown = created.get("run"), created
    else:
        upload = {
            "phone_column": phone_column,
            "name_column": name_column,
            "label_columns": list(label_columns),
            "sheet": sheet,
            "header": None if header is None else str(header).lower(),
        }
        created, report, run = _create_with_file(
            client, body, recipients_file, upload, send_now=schedule is None, quiet=as_json
        )
        shown = {
            **client.get(f"/campaigns/{created['id']}"),
            "intake": created["intake"],
            "run": run,
            "file": report,
        }
    if as_json:
        echo_json(shown)
    else:
        _report_created(created, run, recipients_file, shown.get("file"))
    if wait and run is not None:
        _wait(client, created["id"], run, {}, interval, as_json)


def _campaign_body(
    fields: Mapping[str, Any],
    to: list[str],
    schedule: str | None,
    reminders: tuple[str, ...],
    reminder_minutes: int,
) -> dict[str, Any]:
    body: dict[str, Any] = {"sender": fields["sender"], "message": fields["message"]}
    if fields["name"]:
        body["name"] = fields["name"]
    if to:
        body["to"] = to
    for key in ("contacts", "groups"):
        if fields[key]:
            body[key] = list(fields[key])
    optional = {
        "fallback_values": fields["fallbacks"] or None,
        "flash": fields["flash"] or None,
        "transcode": fields["transcode"] or None,
        "respect_quiet_hours": fields["quiet_hours"],
        "quiet_hours": fields["quiet_windows"] or None,
        "scheduled_at": schedule,
        "callback": fields["callback"],
        "campaign_callback": fields["campaign_callback"],
        "reminder": {"numbers": list(reminders), "minutes_before": reminder_minutes}
        if reminders
        else None,
        "ignore_invalid_numbers": fields["ignore_invalid_numbers"] or None,
        "mobiles_only": fields["mobiles_only"] or None,
        "track_link_url": fields["track_link_url"],
        "track_link_params": fields["track_link_params"] or None,
        "opt_out_link": fields["opt_out_link"] or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def _create_with_file(
    client: ApiClient,
    body: dict[str, Any],
    path: Path,
    upload: dict[str, Any],
    *,
    send_now: bool,
    quiet: bool,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Create scheduled (a day ahead when it is to be sent now), upload, run: (created, file
    report, run). A refused step after the creation deletes the campaign again."""
    from herald.cli.client import ApiError
    from herald.cli.output import error_text

    if send_now:
        body = {**body, "scheduled_at": (datetime.now(UTC) + HOLD).isoformat()}
    created = client.post("/campaigns", body)
    campaign_id = created["id"]
    try:
        report = _upload(client, campaign_id, path, upload, quiet=quiet)
        run = client.post(f"/campaigns/{campaign_id}/run", {}) if send_now else None
    except BaseException as exc:
        gone = _delete(client, campaign_id)
        fate = (
            f"campaign {campaign_id} was deleted again: nothing is kept"
            if gone
            else f"campaign {campaign_id} is left behind: delete it or fix and run it"
        )
        if isinstance(exc, ApiError) and not quiet:
            raise click.ClickException(f"{error_text(exc)}\n{fate}") from None
        note(fate)  # under --json the error itself goes to stdout, as JSON
        raise
    return created, report, run


def _delete(client: ApiClient, campaign_id: int) -> bool:
    from herald.cli.client import ClientError

    try:
        client.delete(f"/campaigns/{campaign_id}")
    except ClientError:
        return False
    return True


def _upload(
    client: ApiClient, campaign_id: int, path: Path, upload: dict[str, Any], *, quiet: bool
) -> dict[str, Any]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from herald.cli.output import stderr

    fields = {k: v for k, v in upload.items() if v not in (None, [])}
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        disable=quiet,
    )
    with progress:
        task = progress.add_task(f"uploading {path.name}", total=path.stat().st_size)

        def advance(sent: int, total: int) -> None:
            done = sent >= total
            progress.update(
                task,
                completed=sent,
                total=total,
                description=(
                    f"{path.name}: the daemon is reading the rows"
                    if done
                    else f"uploading {path.name}"
                ),
            )

        report: dict[str, Any] = client.upload(
            f"/campaigns/{campaign_id}/recipients/file", path, fields, advance
        )
        progress.update(task, description=f"uploaded {path.name}")
    return report


def _report_created(
    created: Mapping[str, Any],
    run: Mapping[str, Any] | None,
    path: Path | None,
    report: Mapping[str, Any] | None,
) -> None:
    from herald.cli.output import file_lines, intake_lines, run_line, when

    at = when(created.get("scheduled_at"))
    state = "" if run is not None else f", scheduled for {at}" if at else ""
    click.echo(f"campaign {created['id']} {created['name']!r} created{state}")
    for line in intake_lines(
        created.get("intake"), ignored=bool(created.get("ignore_invalid_numbers"))
    ):
        click.echo(line)
    if path is not None and report is not None:
        for line in file_lines(path.name, report):
            click.echo(line)
    if run is not None:
        click.echo(run_line(created["id"], run))


# --- run and wait -------------------------------------------------------------------------------


@campaign.command("run")
@_id_argument
@click.option("--message", metavar="TEXT", help="A template for this run only.")
@click.option("--description", help="A note kept with this run's batch.")
@click.option("--track-link-url", metavar="URL", help="Where %Link% leads, for this run only.")
@_wait_option
@json_option
@api_command
def run(
    client: ApiClient,
    *,
    campaign_id: int,
    message: str | None,
    description: str | None,
    track_link_url: str | None,
    wait: bool,
    interval: float,
    as_json: bool,
) -> None:
    """Start a run of campaign ID now (from scheduled, stopped or completed): print its
    batch and message count.

    With --wait, a progress bar follows the run (messages final out of expected, counts of
    sent, delivered, failed, rejected and unknown, and the rate), polling the campaign
    every --interval seconds until every message of the run is final (or the campaign is
    stopped or completes); then the final counters. Ctrl-C stops waiting, not the campaign
    (exit status 130). --json prints the run's answer, and with --wait the final campaign
    on a second line.
    """
    baseline = client.get(f"/campaigns/{campaign_id}")["progress"]["messages"] if wait else {}
    given = (
        ("message", message),
        ("batch_description", description),
        ("track_link_url", track_link_url),
    )
    body = {k: v for k, v in given if v is not None}
    started = client.post(f"/campaigns/{campaign_id}/run", body)
    if as_json:
        echo_json(started)
    else:
        from herald.cli.output import run_line

        click.echo(run_line(campaign_id, started))
    if wait:
        _wait(client, campaign_id, started, baseline, interval, as_json)


def _wait(
    client: ApiClient,
    campaign_id: int,
    started: Mapping[str, Any],
    baseline: Mapping[str, int],
    interval: float,
    as_json: bool,
) -> None:
    from herald.cli.output import deferred_lines, progress_table, stderr, stdout
    from herald.cli.wait import wait_for_run

    err = stderr()
    result = wait_for_run(client, campaign_id, started, baseline, interval=interval, console=err)
    if result.interrupted:
        err.print(
            f"stopped waiting after {result.seconds:.0f} s; campaign {campaign_id} goes "
            f"on (`herald campaign status {campaign_id}`)"
        )
        raise SystemExit(INTERRUPTED)
    if as_json:
        echo_json(result.detail)
        return
    rate = result.settled / result.seconds if result.seconds > 0 else 0.0
    ended = "" if result.ended_by == "final" else f", wait ended: {result.ended_by}"
    out = stdout()
    out.print(
        f"batch {started['batch_id']}: {result.settled} of {result.expected} message(s) "
        f"final in {result.seconds:.1f} s ({rate:,.1f} msg/s){ended}; campaign "
        f"{campaign_id} is {result.detail['status']}"
    )
    out.print(
        progress_table(
            {"expected": result.expected, **result.counts}, title=f"batch {started['batch_id']}"
        )
    )
    for line in deferred_lines(result.detail["progress"].get("deferred") or []):
        out.print(line)


# --- read ---------------------------------------------------------------------------------------


@campaign.command("status")
@_id_argument
@json_option
@api_command
def status(client: ApiClient, *, campaign_id: int, as_json: bool) -> None:
    """Campaign ID with its audience, progress counters (messages and segments per status)
    and runs."""
    detail = client.get(f"/campaigns/{campaign_id}")
    if as_json:
        echo_json(detail)
        return
    from herald.cli.output import campaign_view, stdout

    stdout().print(campaign_view(detail))


@campaign.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(CAMPAIGN_STATUSES),
    help="Only campaigns in this state (repeatable).",
)
@click.option("--name-contains", metavar="TEXT", help="Only names containing TEXT (any case).")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--sort", type=click.Choice(SORT_FIELDS), default="created_at", show_default=True)
@click.option("--desc/--asc", "descending", default=True, show_default=True, help="Sort order.")
@json_option
@api_command
def list_campaigns(
    client: ApiClient,
    *,
    statuses: tuple[str, ...],
    name_contains: str | None,
    page: int,
    page_size: int,
    sort: str,
    descending: bool,
    as_json: bool,
) -> None:
    """The account's campaigns, newest first unless --sort/--asc say otherwise."""
    params: dict[str, Any] = {
        "page": page,
        "page_size": page_size,
        "sort": sort,
        "order": "desc" if descending else "asc",
    }
    if statuses:
        params["status"] = list(statuses)
    if name_contains:
        params["name_contains"] = name_contains
    found = client.get("/campaigns", params=params)
    if as_json:
        echo_json(found)
        return
    from herald.cli.output import list_table, stdout

    stdout().print(list_table(found))


# --- lifecycle ----------------------------------------------------------------------------------


def _lifecycle(action: str, done: str, doc: str) -> None:
    @campaign.command(action, help=doc)
    @_id_argument
    @json_option
    @api_command
    def command(client: ApiClient, *, campaign_id: int, as_json: bool) -> None:
        answer = client.post(f"/campaigns/{campaign_id}/{action}")
        if as_json:
            echo_json(answer)
            return
        line = f"campaign {campaign_id} {done}: now {answer['status']}"
        if "stopped_messages" in answer:
            line += f", {answer['stopped_messages']} queued or deferred message(s) stopped"
        click.echo(line)


_lifecycle(
    "suspend",
    "suspended",
    "Pause sending campaign ID; messages already sent keep getting receipts.",
)
_lifecycle("resume", "resumed", "Resume sending campaign ID after a suspend.")
_lifecycle(
    "stop",
    "stopped",
    "Stop campaign ID for good: messages not yet sent become `stopped` and their credit "
    "comes back. A stopped campaign can be run again.",
)


# --- edit, delete, messages ---------------------------------------------------------------------


@campaign.command("edit")
@_id_argument
@click.option("--name", help="A new name.")
@click.option("--sender", help="Another of the account's senders.")
@click.option("--message", metavar="TEXT", help="A new template.")
@click.option(
    "--to",
    "numbers",
    multiple=True,
    metavar="NUMBER",
    help="Replace the campaign's numbers with these (repeatable).",
)
@click.option(
    "--to-file",
    type=click.File("r", encoding="utf-8-sig"),
    help="Replace the campaign's numbers with these, one per line.",
)
@click.option(
    "--contact",
    "contacts",
    multiple=True,
    metavar="ID",
    type=click.IntRange(min=1),
    help="Replace its contacts (repeatable).",
)
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="ID",
    type=click.IntRange(min=1),
    help="Replace its groups (repeatable).",
)
@click.option(
    "--fallback",
    "fallbacks",
    multiple=True,
    metavar="LABEL=VALUE",
    callback=_pairs,
    help="Replace the fallback values (repeatable).",
)
@click.option("--flash/--no-flash", default=None, help="Class 0 (flash) messages or not.")
@click.option("--transcode/--no-transcode", default=None, help="Look-alike replacement.")
@click.option("--quiet-hours/--no-quiet-hours", default=None, help="Respect quiet hours.")
@click.option(
    "--quiet-window",
    "quiet_windows",
    multiple=True,
    metavar="FROM-TO",
    callback=_windows,
    help="Replace the quiet windows, e.g. 23:00-08:00 (repeatable).",
)
@click.option(
    "--schedule",
    metavar="ISO8601",
    callback=_aware_datetime,
    help="A new time, with a time zone (to send now: `herald campaign run ID`).",
)
@click.option("--callback", metavar="URL", help="A new per-message webhook.")
@click.option("--campaign-callback", metavar="URL", help="A new campaign webhook.")
@click.option(
    "--ignore-invalid-numbers/--refuse-invalid-numbers",
    default=None,
    help="Skip invalid numbers, or refuse a list that holds one.",
)
@click.option("--mobiles-only/--any-numbers", default=None, help="Mobile numbers only, or any.")
@json_option
@api_command
def edit(
    client: ApiClient,
    *,
    campaign_id: int,
    numbers: tuple[str, ...],
    to_file: TextIO | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Change campaign ID while it is scheduled (PATCH /v1/campaigns/ID): only what is given
    changes; --to, --to-file, --contact and --group replace that source of recipients (file
    rows stay)."""
    body: dict[str, Any] = {}
    to = [*numbers, *_numbers(to_file)]
    if to:
        body["to"] = to
    renamed = {
        "fallbacks": "fallback_values",
        "quiet_windows": "quiet_hours",
        "quiet_hours": "respect_quiet_hours",
        "schedule": "scheduled_at",
    }
    for option, value in fields.items():
        if value in (None, (), {}, []):
            continue
        body[renamed.get(option, option)] = list(value) if isinstance(value, tuple) else value
    if not body:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    edited = client.patch(f"/campaigns/{campaign_id}", body)
    if as_json:
        echo_json(edited)
        return
    from herald.cli.output import campaign_view, intake_lines, stdout

    click.echo(f"campaign {campaign_id} changed")
    for line in intake_lines(edited.get("intake"), ignored=edited["ignore_invalid_numbers"]):
        click.echo(line)
    stdout().print(campaign_view(edited))


@campaign.command("delete")
@_id_argument
@json_option
@api_command
def delete(client: ApiClient, *, campaign_id: int, as_json: bool) -> None:
    """Delete campaign ID with its messages (not while it is running or suspended: stop it
    first)."""
    client.delete(f"/campaigns/{campaign_id}")
    if as_json:
        echo_json({"deleted": campaign_id})
    else:
        click.echo(f"campaign {campaign_id} deleted")


@campaign.command("messages")
@_id_argument
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(MESSAGE.states),
    help="Only messages in this status (repeatable).",
)
@click.option("--batch", "batch_id", type=click.IntRange(min=1), help="Only this run's batch.")
@page_options
@json_option
@api_command
def messages(
    client: ApiClient,
    *,
    campaign_id: int,
    statuses: tuple[str, ...],
    batch_id: int | None,
    page: int,
    page_size: int,
    as_json: bool,
) -> None:
    """Campaign ID's messages in id order: number, status and reason, parts, bind and times
    (--json: with every part's submit and receipt detail)."""
    params: dict[str, Any] = {"page": page, "page_size": page_size}
    if statuses:
        params["status"] = list(statuses)
    if batch_id is not None:
        params["batch_id"] = batch_id
    found = client.get(f"/campaigns/{campaign_id}/messages", params=params)
    if as_json:
        echo_json(found)
        return
    from herald.cli.output import messages_table, stdout

    stdout().print(messages_table(found))


# --- export -------------------------------------------------------------------------------------


@campaign.command("export")
@_id_argument
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    default="-",
    show_default=True,
    help="Where to write the CSV ('-': standard output).",
)
@api_command
def export(client: ApiClient, *, campaign_id: int, output: str) -> None:
    """Every message of campaign ID as CSV (GET /v1/campaigns/ID/messages.csv): phone,
    country, status, reason, parts, carrier ids, times, clicks; in id order.

    A progress bar (messages written of those the runs expanded) goes to standard error.
    With -o FILE the rows go to FILE.part first and become FILE only when the export is
    whole, so an interrupted export never looks complete.
    """
    import sys
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from herald.cli.output import stderr

    path = None if output == "-" else Path(output)
    # A regular file is written whole or not at all (FILE.part, then renamed); anything else
    # (a device such as /dev/null, a pipe) is written in place: renaming over it would replace it.
    whole = path is not None and (not path.exists() or path.is_file())
    partial = path.with_name(path.name + ".part") if whole and path is not None else None
    started = time.monotonic()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
    )
    rows = -1  # the header line is not a message
    size = 0
    if partial is not None:
        sink: BinaryIO = partial.open("wb")
    elif path is not None:
        sink = path.open("wb")
    else:
        sink = sys.stdout.buffer
    try:
        with progress:
            task = progress.add_task(f"campaign {campaign_id}", total=None)

            def advance(chunk: bytes) -> None:
                nonlocal rows, size
                rows += chunk.count(b"\n")
                size += len(chunk)
                progress.update(task, completed=max(rows, 0))

            def sized(headers: dict[str, str]) -> None:
                expected = headers.get("x-herald-messages")
                if expected is not None and expected.isdigit():
                    progress.update(task, total=int(expected))

            client.download(
                f"/campaigns/{campaign_id}/messages.csv", sink, advance, on_headers=sized
            )
    except BaseException:
        if partial is not None:
            sink.close()
            partial.unlink(missing_ok=True)
        raise
    if partial is not None and path is not None:
        sink.close()
        partial.replace(path)
    elif path is not None:
        sink.close()
    else:
        sink.flush()
    where = "standard output" if path is None else str(path)
    click.echo(
        f"campaign {campaign_id}: {max(rows, 0):,} message(s) written to {where} "
        f"({size / 1e6:,.1f} MB) in {time.monotonic() - started:.1f} s",
        err=True,
    )
