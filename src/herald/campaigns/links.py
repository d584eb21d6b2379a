"""Per-recipient links: their codes, the URLs phones get, and the rules a campaign's link
settings follow (docs/api.md, links).

A campaign with `track_link_url` places `%Link%`: each recipient gets `{base}/l/{code}`,
which redirects to the URL (with `track_link_params` as its query) and records the click. A
campaign with `opt_out_link` places `%OptOutLink%`: `{base}/o/{code}`, a page that confirms
and blacklists the number. Every code is 12 characters of base64url (72 random bits, as
`secrets.token_urlsafe(9)` makes them), so a link's length, and with it the message's
encoding, segments and cost, is known at expansion like any other text.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import get_args
from urllib.parse import urlencode, urlsplit, urlunsplit

from herald.config import Config
from herald.errors import RequestError
from herald.store.links import LinkKind
from herald.text.template import Template

CODE_BYTES = 9
CODE_LENGTH = 12  # base64url of 9 bytes: no padding
CODE_RE = re.compile(r"[A-Za-z0-9_-]{12}")
CLICK, OPT_OUT = get_args(LinkKind)  # links.kind, link_events.kind
SAMPLE_CODE = "AbCdEf012345"  # what a preview shows: the length is what matters


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """Which links each message of a run gets, and the base URL phones reach them at."""

    base_url: str
    click: bool
    opt_out: bool


def links_base_url(config: Config, api_url: str | None = None) -> str:
    """Where phones reach /l/ and /o/: `[links] base_url`, else the API's address (`api_url`
    once its socket is bound, else as configured)."""
    return config.links.base_url or api_url or f"http://{config.api.host}:{config.api.port}"


def new_codes(count: int) -> list[str]:
    """`count` fresh codes from one draw of the OS's randomness: each is what
    `secrets.token_urlsafe(9)` returns (3 bytes make 4 characters, so 9-byte slices of one
    draw encode exactly as 9-byte draws would)."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(CODE_BYTES * count)).decode("ascii")
    return [text[i : i + CODE_LENGTH] for i in range(0, CODE_LENGTH * count, CODE_LENGTH)]


class CodePool:
    """Codes for an expansion, drawn a few thousand at a time (about 0.1 µs each instead of
    the 1 µs of a token_urlsafe call)."""

    def __init__(self, draw: Callable[[int], list[str]] | None = None, chunk: int = 4096) -> None:
        self._draw = draw or new_codes
        self._chunk = chunk
        self._codes: list[str] = []

    def next(self) -> str:
        if not self._codes:
            self._codes = self._draw(self._chunk)
            self._codes.reverse()  # popped from the end, handed out in the order drawn
        return self._codes.pop()


def click_url(base_url: str, code: str) -> str:
    return f"{base_url}/l/{code}"


def opt_out_url(base_url: str, code: str) -> str:
    return f"{base_url}/o/{code}"


def link_target(url: str, params: Mapping[str, str]) -> str:
    """Where a tracked link redirects: `url` with `params` added to its query (before any
    fragment), URL-encoded; parameters the URL has already are kept."""
    if not params:
        return url
    parts = urlsplit(url)
    extra = urlencode(list(params.items()))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def check_link_settings(
    template: Template, *, track_link_url: str | None, opt_out_link: bool, field: str = "message"
) -> None:
    """Refuse a template whose links the campaign cannot fill, and an opt-out link the
    template does not place (recipients would not get what the campaign promises)."""
    if template.uses_link and not track_link_url:
        raise RequestError(
            "link_not_configured",
            f"{field} places %Link% but the campaign has no track_link_url: give the http(s) "
            "URL its recipients' links go to (a label named Link is written [~Link])",
            {"field": field, "placeholder": "%Link%", "setting": "track_link_url"},
        )
    if template.uses_opt_out_link and not opt_out_link:
        raise RequestError(
            "link_not_configured",
            f"{field} places %OptOutLink% but the campaign's opt_out_link is false: set it "
            "to true (a label named OptOutLink is written [~OptOutLink])",
            {"field": field, "placeholder": "%OptOutLink%", "setting": "opt_out_link"},
        )
    if opt_out_link and not template.uses_opt_out_link:
        raise RequestError(
            "opt_out_link_unplaced",
            f"opt_out_link is true but {field} has no %OptOutLink%: place it where the "
            "opt-out link goes",
            {"field": field, "placeholder": "%OptOutLink%", "setting": "opt_out_link"},
        )
