"""A campaign's audience before it runs, a page at a time, each recipient with what a run
would make of it now (docs/api.md, recipients).

The audience is read in a run's order: explicit rows (numbers, recipient objects, file rows)
as they were added, then the contacts named, then each group's members. Each item says
whether a run would send to it now, and if not why: its number (`invalid_format`,
`invalid_number`, ...), the blacklist, or the template (`missing_label:<label>`,
`invalid_label_value`). A number that appears twice is listed twice; a run sends to it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from herald.campaigns.lifecycle import campaign_not_found
from herald.campaigns.links import SAMPLE_CODE, click_url, opt_out_url
from herald.config import Config
from herald.errors import InvalidTextError, MissingLabelError, TemplateError
from herald.numbers import check_number
from herald.store import campaigns as campaign_store
from herald.store import contacts as contact_store
from herald.store import insight as store
from herald.store.db import Database
from herald.store.rows import Row
from herald.text.template import Template, parse_template

# Sources whose phone is E.164 already (contacts.phone has a CHECK).
_TRUSTED = frozenset({"contact", "group"})
_PARTS = ("explicit", "contacts", "members")


class RecipientListing:
    def __init__(self, db: Database, config: Config) -> None:
        self._db = db
        self._region = config.campaigns.default_region

    async def page(
        self, account_id: int, campaign_id: int, *, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """(audience size, the recipients from `offset` on, at most `limit`)."""
        async with self._db.acquire() as conn:
            campaign = await campaign_store.get_campaign(conn, campaign_id, account_id)
            if campaign is None:
                raise campaign_not_found(campaign_id)
            sizes = await store.audience_sizes(conn, campaign_id)
            rows: list[Row] = []
            for part, size in zip(
                _PARTS, (sizes.explicit, sizes.contacts, sizes.members), strict=True
            ):
                if offset >= size:
                    offset -= size
                    continue
                rows += await store.audience_page(
                    conn, campaign_id, part, limit - len(rows), offset
                )
                offset = 0
                if len(rows) >= limit:
                    break
            items = [self._checked(r) for r in rows]
            valid = [i["phone"] for i in items if i["phone"] is not None and i["valid"]]
            blacklisted = await contact_store.blacklisted_among(conn, account_id, valid)
        template = _template(campaign)
        for item in items:
            if item["valid"]:
                item["reason"] = (
                    "blacklisted"
                    if item["phone"] in blacklisted
                    else _render_problem(template, item)
                )
                item["valid"] = item["reason"] is None
        return sizes.total, items

    def _checked(self, row: Row) -> dict[str, Any]:
        source, raw = row["source"], row["phone_raw"]
        if source in _TRUSTED:
            phone, reason = raw, None
        else:
            phone, reason = check_number(raw, default_region=self._region)
        return {
            "source": source,
            "phone_raw": raw,
            "phone": phone,
            "name": row["name"],
            "labels": dict(row["labels"]),
            "file_row": row["file_row"],
            "contact_id": row["contact_id"],
            "group_id": row["group_id"],
            "valid": phone is not None,
            "reason": reason,
        }


def _template(campaign: Row) -> Template | None:
    try:
        return parse_template(campaign["template"], campaign["fallback_values"])
    except TemplateError:  # stored before a rule changed: a run will say so
        return None


def _render_problem(template: Template | None, item: Mapping[str, Any]) -> str | None:
    """What a run would reject the recipient for when rendering its message, or None."""
    if template is None:
        return None
    base = "https://links.invalid"  # the links' length does not matter here
    try:
        template.render(
            item["name"],
            item["labels"],
            click_url(base, SAMPLE_CODE),
            opt_out_url(base, SAMPLE_CODE),
        )
    except MissingLabelError as exc:
        return exc.reason
    except InvalidTextError:
        return "invalid_label_value"
    return None
