"""Where the console's report, charts and CSV export get their data: the campaign report and
export services the API answers with (`ReportService.report` behind
`GET /v1/campaigns/{id}/report`, `ExportService.messages_csv` behind `.../messages.csv`,
docs/api.md), so the console shows the same numbers and the same file.

A report reads every message and part of the campaign (about 2 s at a million messages,
docs/performance.md), and the campaign page is loaded again for each page of its messages
table: a report is reused like a summary (herald.ui.summaries: five times as long as it took
to read, shared by every viewer). Its timeline has buckets wide enough that the chart has at
most `CHART_POINTS` points over the campaign's runs so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from herald.api.deps import Services
from herald.campaigns.exports import Export
from herald.ui.summaries import Summaries

CHART_POINTS = 120
MAX_INTERVAL = 86_400  # the report's widest bucket (a day)
REPORTS_KEPT = 200  # a report is tens of KB (timeline, reasons, countries): a few MB at most


def timeline_interval(batches: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Seconds per point of the timeline: whole minutes, at most CHART_POINTS points from the
    first run's start to the last one's end (or now, while one runs) (pure)."""
    started = [b["started_at"] for b in batches if b.get("started_at") is not None]
    if not started:
        return 60
    ends = [b.get("finished_at") or now for b in batches if b.get("started_at") is not None]
    span = max((max(ends) - min(started)).total_seconds(), 0.0)
    minutes = max(1, math.ceil(span / CHART_POINTS / 60))
    return min(minutes * 60, MAX_INTERVAL)


class Insight:
    def __init__(
        self, services: Services, summaries: Summaries, *, clock: Callable[[], datetime]
    ) -> None:
        self._services = services
        self._summaries = summaries
        self._clock = clock
        self._reports = Summaries(self._read_report, max_entries=REPORTS_KEPT)

    async def report(self, account_id: int, campaign_id: int) -> dict[str, Any]:
        """The campaign's report (campaign_not_found passes through)."""
        return await self._reports.get(account_id, campaign_id)

    async def _read_report(self, account_id: int, campaign_id: int) -> dict[str, Any]:
        detail = await self._summaries.get(account_id, campaign_id)
        interval = timeline_interval(detail["batches"], self._clock())
        report: dict[str, Any] = await self._services.reports.report(
            account_id, campaign_id, interval=interval
        )
        return report

    def forget(self, account_id: int, campaign_id: int) -> None:
        self._reports.forget(account_id, campaign_id)

    async def export(self, account_id: int, campaign_id: int) -> Export:
        """The campaign's messages as CSV; campaign_not_found before anything streams."""
        return await self._services.exports.messages_csv(account_id, campaign_id)
