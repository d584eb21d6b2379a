"""What every command that talks to a running daemon shares: where it is, the account's key,
`--json`, and how an error is shown.

The daemon's URL: `--api URL`, else HERALD_URL (or HERALD_API_URL), else the `[api]` of
`--config FILE`, else http://127.0.0.1:8080. The key: HERALD_KEY (or HERALD_API_KEY), or
`--key`, which other users can see in the process list. `herald run` prints both variables
for its demo account (`export HERALD_URL=... HERALD_KEY=...`), and the README's curl examples
use the same two.

Errors exit with status 1: for a person, the API's code, message and the useful details;
under `--json`, the API's error body itself on stdout ({"error": {"code", "message",
"details"}}), and for no answer at all the same shape with code `unreachable`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    pass

URL_VARIABLES = ("HERALD_URL", "HERALD_API_URL")
KEY_VARIABLES = ("HERALD_KEY", "HERALD_API_KEY")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the API's JSON answer instead of tables."
)


class JsonFailure(click.ClickException):
    """An error already printed as JSON on stdout: exit 1 with nothing more said."""

    def __init__(self) -> None:
        super().__init__("")

    def show(self, file: Any = None) -> None:
        pass


class JsonUsageFailure(JsonFailure):
    """A usage error already printed as JSON: exit 2, as click's own usage errors."""

    exit_code = 2


def _fail(code: str, message: str, as_json: bool, usage: bool = False) -> click.ClickException:
    if as_json:
        echo_json({"error": {"code": code, "message": message, "details": None}})
        return JsonUsageFailure() if usage else JsonFailure()
    return click.UsageError(message) if usage else click.ClickException(message)


def api_command(command: Callable[..., None]) -> Callable[..., None]:
    """Add --api/--key/--config; call `command(client, ...)`; errors shown as the module
    docstring says (as JSON when the command was given --json)."""

    @click.option(
        "--api",
        "api_url",
        envvar=list(URL_VARIABLES),
        metavar="URL",
        help="The daemon's URL [env HERALD_URL; default: --config's [api], "
        "else http://127.0.0.1:8080].",
    )
    @click.option(
        "--key",
        envvar=list(KEY_VARIABLES),
        metavar="KEY",
        help="The account's API key [env HERALD_KEY, which other users cannot "
        "see in the process list].",
    )
    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="herald's TOML configuration: the API address is its [api] host/port.",
    )
    @functools.wraps(command)
    def wrapper(
        api_url: str | None, key: str | None, config_path: str | None, **kwargs: Any
    ) -> None:
        from herald.cli.client import ApiClient, ApiError, ClientError, resolve_api_url
        from herald.cli.output import error_text
        from herald.errors import HeraldError

        as_json = bool(kwargs.get("as_json"))
        if not key:
            raise _fail(
                "no_api_key",
                "no API key: set HERALD_KEY (or give --key); `herald run` prints the demo "
                "account's, `herald account create NAME` a new account's",
                as_json,
                usage=True,
            )
        try:
            root = resolve_api_url(api_url, config_path, os.environ)
        except (ClientError, HeraldError) as exc:
            raise _fail("bad_api_url", str(exc), as_json, usage=True) from None
        try:
            with ApiClient(root, key) as client:
                command(client, **kwargs)
        except ApiError as exc:
            if not as_json:
                raise click.ClickException(error_text(exc)) from None
            echo_json({"error": {"code": exc.code, "message": exc.message, "details": exc.details}})
            raise JsonFailure() from None
        except ClientError as exc:
            raise _fail("unreachable", str(exc), as_json) from None

    return wrapper


def note(text: str) -> None:
    """A line for the person at the terminal, on stderr (stdout may be JSON)."""
    click.echo(text, err=True)


def page_options(command: Callable[..., None]) -> Callable[..., None]:
    """--page and --page-size, for the commands that list."""
    command = click.option(
        "--page-size", type=click.IntRange(1, 500), default=50, show_default=True
    )(command)
    return click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)(command)
