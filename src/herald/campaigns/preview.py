"""Preview of a campaign message for one sample recipient: what `herald preview --json`
shows, for the template rendered with that recipient's name and labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from herald.campaigns.lifecycle import malformed_template
from herald.campaigns.links import SAMPLE_CODE, click_url, opt_out_url
from herald.errors import (
    InvalidLabelValueError,
    MissingLabelError,
    RequestError,
    TemplateError,
    TextError,
    TooManyPartsError,
)
from herald.text import encode_message
from herald.text.describe import describe
from herald.text.template import parse_template


def preview_message(
    message: str,
    *,
    fallback_values: Mapping[str, str],
    name: str | None,
    labels: Mapping[str, str],
    flash: bool = False,
    transcode: bool = False,
    concat: str = "udh8",
    national: Iterable[str] = (),
    links_base_url: str = "https://links.invalid",
) -> dict[str, Any]:
    """`rendered` (the template filled in), then the fields of `herald preview --json` with
    `text` always present (what is encoded: the rendered text, transcoded when asked).
    %Link% and %OptOutLink% show as sample links under `links_base_url`: as long as the
    links recipients get, so the segments are theirs."""
    try:
        template = parse_template(message, fallback_values)
    except TemplateError as exc:
        raise malformed_template(exc) from None
    try:
        rendered = template.render(
            name,
            labels,
            click_url(links_base_url, SAMPLE_CODE),
            opt_out_url(links_base_url, SAMPLE_CODE),
        )
    except MissingLabelError as exc:
        raise RequestError("missing_label", str(exc), {"label": exc.label}) from None
    except InvalidLabelValueError as exc:
        raise RequestError("invalid_label_value", str(exc), {"label": exc.label}) from None
    try:
        encoded = encode_message(
            rendered, concat=concat, national=tuple(national), flash=flash, transcode=transcode
        )
    except TooManyPartsError as exc:
        raise RequestError("too_many_parts", str(exc), None) from None
    except TextError as exc:
        raise RequestError("invalid_text", str(exc), None) from None
    return {"rendered": rendered, **describe(encoded, with_text=True)}
