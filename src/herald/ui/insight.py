"""Where the console's report, charts and CSV export get their data: the one place to switch.

The campaign report and export services (issue 19: `ReportService.report` behind
`GET /v1/campaigns/{id}/report`, `ExportService.messages_csv` behind `.../messages.csv`) come
with the `links` branch. When the API's Services carry them (`services.reports`,
`services.exports`), the console uses them as they are. Until then it builds what it can from
the services that exist: the report's counts and delivery rate from the campaign's progress
(no timeline, reasons or countries: `partial` says so and the page tells the user), and the
export by paging through the campaign's messages (correct, but each page is an OFFSET walk,
so a million-message export is slow where the export service's id-keyed chunks are not).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from herald.api.deps import Services

EXPORT_COLUMNS = (
    "message_id",
    "batch_id",
    "phone",
    "status",
    "reason",
    "parts",
    "smsc_message_ids",
    "route",
    "created_at",
    "sent_at",
    "done_at",
)
EXPORT_PAGE = 500  # messages per read of the fallback export (the API's largest page)
_FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    filename: str
    messages: int | None
    rows: AsyncIterator[bytes]


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (an E.164 number stays as it is)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    is_e164 = text.startswith("+") and text[1:].isdigit() and len(text) <= 16
    return "'" + text if text.startswith(_FORMULA_FIRST) and not is_e164 else text


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def report_from_progress(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The report's counts as the campaign's progress gives them (pure)."""
    messages = detail["progress"]["messages"]
    by_status = {k: int(v) for k, v in messages.items() if k != "expected"}
    accepted = sum(by_status[s] for s in ("sent", "delivered", "failed", "unknown"))
    clicks = detail["progress"].get("clicks")
    return {
        "partial": True,
        "messages": {
            "total": sum(by_status.values()),
            "accepted": accepted,
            "by_status": by_status,
        },
        "delivery_rate": _rate(by_status["delivered"], accepted),
        "reasons": [],
        "countries": [],
        "timeline": {"interval_seconds": 60, "points": []},
        "clicks": None if clicks is None else {**clicks, "links": None, "click_rate": None},
    }


class Insight:
    def __init__(self, services: Services) -> None:
        self._services = services

    @property
    def complete(self) -> bool:
        """Whether the report service is here (timeline, reasons, countries, clicks)."""
        return getattr(self._services, "reports", None) is not None

    async def report(
        self, account_id: int, campaign_id: int, detail: Mapping[str, Any]
    ) -> dict[str, Any]:
        reports = getattr(self._services, "reports", None)
        if reports is not None:
            report: dict[str, Any] = await reports.report(account_id, campaign_id)
            return {**report, "partial": False}
        return report_from_progress(detail)

    async def export(self, account_id: int, campaign_id: int) -> Export:
        """The campaign's messages as CSV; campaign_not_found before anything streams."""
        exports = getattr(self._services, "exports", None)
        if exports is not None:
            done = await exports.messages_csv(account_id, campaign_id)
            return Export(done.filename, done.messages, done.rows)
        total, _ = await self._services.campaigns.messages(
            account_id, campaign_id, statuses=None, batch_id=None, limit=1, offset=0
        )
        return Export(
            f"campaign-{campaign_id}-messages.csv",
            total,
            self._paged_rows(account_id, campaign_id),
        )

    async def _paged_rows(self, account_id: int, campaign_id: int) -> AsyncIterator[bytes]:
        yield (",".join(EXPORT_COLUMNS) + "\n").encode()
        offset = 0
        while True:
            _, items = await self._services.campaigns.messages(
                account_id,
                campaign_id,
                statuses=None,
                batch_id=None,
                limit=EXPORT_PAGE,
                offset=offset,
            )
            if not items:
                return
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            for m in items:
                ids = " ".join(p["smsc_message_id"] or "" for p in m["parts"]).strip()
                writer.writerow(
                    [
                        m["id"],
                        m["batch_id"],
                        safe_cell(m["phone"]),
                        m["status"],
                        safe_cell(m["reason"]),
                        m["part_count"],
                        safe_cell(ids),
                        safe_cell(m["route"]),
                        safe_cell(m["created_at"]),
                        safe_cell(m["sent_at"]),
                        safe_cell(m["done_at"]),
                    ]
                )
            yield out.getvalue().encode()
            offset += len(items)
            if len(items) < EXPORT_PAGE:
                return
