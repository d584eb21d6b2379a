"""A campaign's report: its results in aggregate, as platforms show them (docs/api.md,
reports).

Counts by status and reason, by destination country, by route and by carrier account (bind);
the delivery rate; submit-to-receipt latency; clicks and opt-outs through links; credit; and
a time series of messages sent, delivered, failed and clicked per bucket (a minute unless
asked). One pass over the campaign's messages and one over its parts, each a GROUPING SETS
aggregate over its batches' id ranges, run at once on two connections; then its links,
clicks and credit (store/sql/insight.sql). Latency percentiles are read from a histogram of
three significant digits, so they are exact to 0.1%. Nothing is kept between requests.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from herald.campaigns.lifecycle import campaign_not_found
from herald.states import MESSAGE
from herald.store import campaigns as campaign_store
from herald.store import insight as store
from herald.store.db import Database
from herald.store.rows import Row

# GROUPING() of report_messages and report_parts: which dimension a row counts.
_BY_REASON, _BY_COUNTRY, _BY_ROUTE, _BY_DONE = 0b0111, 0b1011, 0b1101, 0b1110
_BY_BIND, _BY_SENT, _BY_LATENCY = 0b001, 0b110, 0b111
QUANTILES = (0.5, 0.95, 0.99)
# Outcomes in the time series: a message that did not arrive is failed (by a receipt or
# retries exhausted) or rejected (by the carrier; rejected at expansion it has no done_at).
_NOT_DELIVERED = ("failed", "rejected")
_FINAL_PART_STATES = ("delivered", "undeliverable", "expired", "deleted", "rejected", "unknown")
_UNSENT_PART_STATES = ("pending", "refused")
MAX_POINTS = 10_000  # a longer timeline gets wider buckets: an answer stays a few hundred KB


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class ReportService:
    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def report(
        self, account_id: int, campaign_id: int, *, interval: int = 60
    ) -> dict[str, Any]:
        """The report of the campaign; time series buckets of `interval` seconds."""
        async with self._db.acquire() as conn:
            campaign = await campaign_store.get_campaign(conn, campaign_id, account_id)
        if campaign is None:
            raise campaign_not_found(campaign_id)
        messages, parts, (links, clicks, credit) = await asyncio.gather(
            self._read(store.report_messages, campaign_id, interval),
            self._read(store.report_parts, campaign_id, interval),
            self._small(campaign_id, interval),
        )
        return build_report(
            campaign,
            messages=messages,
            parts=parts,
            links=links,
            clicks=clicks,
            credit=credit,
            interval=interval,
            generated_at=self._clock(),
        )

    async def _read(self, query: Callable[..., Any], *args: Any) -> Any:
        async with self._db.acquire() as conn:
            return await query(conn, *args)

    async def _small(self, campaign_id: int, interval: int) -> tuple[Any, Any, Any]:
        async with self._db.acquire() as conn:
            return (
                await store.report_links(conn, campaign_id),
                await store.report_clicks_over_time(conn, campaign_id, interval),
                await store.report_credit(conn, campaign_id),
            )


def build_report(
    campaign: Row,
    *,
    messages: Iterable[Row],
    parts: Iterable[Row],
    links: Row,
    clicks: Iterable[Row],
    credit: Row,
    interval: int,
    generated_at: datetime,
) -> dict[str, Any]:
    """The report from the rows of the insight queries (pure)."""
    by_status = dict.fromkeys(MESSAGE.states, 0)
    segments = 0
    reasons: list[dict[str, Any]] = []
    countries: dict[str | None, dict[str, int]] = defaultdict(dict)
    routes: dict[str | None, dict[str, int]] = defaultdict(dict)
    # Bucket numbers (seconds since the epoch / interval, as the queries give them) -> counts.
    series: dict[float, dict[str, int]] = defaultdict(
        lambda: {"sent": 0, "delivered": 0, "failed": 0, "clicked": 0}
    )
    for row in messages:
        g, status, n = row["g"], row["status"], int(row["messages"])
        if g == _BY_REASON:
            by_status[status] += n
            segments += int(row["segments"])
            if row["reason"] is not None:
                reasons.append({"status": status, "reason": row["reason"], "messages": n})
        elif g == _BY_COUNTRY:
            countries[row["country"]][status] = n
        elif g == _BY_ROUTE:
            routes[row["route"]][status] = n
        elif g == _BY_DONE and row["done_bucket"] is not None:
            if status == "delivered":
                series[row["done_bucket"]]["delivered"] += n
            elif status in _NOT_DELIVERED:
                series[row["done_bucket"]]["failed"] += n
    binds: dict[str | None, dict[str, int]] = defaultdict(dict)
    accepted = 0
    latencies: list[tuple[float, int]] = []
    for row in parts:
        if row["g"] == _BY_BIND:
            binds[row["bind"]][row["state"]] = int(row["parts"])
        elif row["g"] == _BY_SENT:
            accepted += int(row["accepted"])
            if row["sent_bucket"] is not None:
                series[row["sent_bucket"]]["sent"] += int(row["accepted"])
        elif row["g"] == _BY_LATENCY and row["latency"] is not None:
            latencies.append((float(row["latency"]), int(row["parts"])))
    for row in clicks:
        series[row["bucket"]]["clicked"] += int(row["clicks"])
    timeline = {
        datetime.fromtimestamp(bucket * interval, UTC): counts for bucket, counts in series.items()
    }
    interval, timeline = _coarsen(interval, timeline)
    quantiles = percentiles(latencies, QUANTILES)
    total = sum(by_status.values())
    link_count, unique = int(links["links"]), int(links["unique_clicks"])
    return {
        "campaign_id": campaign["id"],
        "name": campaign["name"],
        "status": campaign["status"],
        "generated_at": generated_at,
        "messages": {"total": total, "accepted": accepted, "by_status": by_status},
        "segments": segments,
        "credit_used": int(credit["credit_used"]),
        "delivery_rate": _rate(by_status["delivered"], accepted),
        "reasons": sorted(reasons, key=lambda r: (-r["messages"], r["status"], r["reason"])),
        "countries": _dimension("country", countries),
        "routes": _dimension("route", routes),
        "binds": [_bind_row(bind, states) for bind, states in _biggest_first(binds)],
        "latency": {
            "samples": sum(n for _, n in latencies),
            "p50": _seconds(quantiles[0]),
            "p95": _seconds(quantiles[1]),
            "p99": _seconds(quantiles[2]),
        },
        "clicks": {
            "links": link_count,
            "clicks": int(links["clicks"]),
            "unique": unique,
            "click_rate": _rate(unique, link_count),
        },
        "opt_outs": int(links["opt_outs"]),
        "timeline": {
            "interval_seconds": interval,
            "points": [{"at": at, **timeline[at]} for at in sorted(timeline)],
        },
    }


def percentiles(
    histogram: Sequence[tuple[float, int]], quantiles: Sequence[float]
) -> list[float | None]:
    """What PostgreSQL's percentile_cont gives over the values of (value, count) pairs: the
    value at position q * (n - 1) of the sorted values, interpolated between neighbours."""
    values = sorted(histogram)
    total = sum(n for _, n in values)
    if not total:
        return [None for _ in quantiles]

    def at(index: int) -> float:
        seen = 0
        for value, n in values:
            seen += n
            if index < seen:
                return value
        return values[-1][0]

    found: list[float | None] = []
    for q in quantiles:
        position = q * (total - 1)
        low, high = math.floor(position), math.ceil(position)
        found.append(at(low) + (position - low) * (at(high) - at(low)))
    return found


def _coarsen(
    interval: int, series: dict[datetime, dict[str, int]]
) -> tuple[int, dict[datetime, dict[str, int]]]:
    """The timeline in at most MAX_POINTS buckets: doubled in width until it fits (bucket
    starts are multiples of the width in epoch seconds, so two always merge into one)."""
    while len(series) > MAX_POINTS:
        interval *= 2
        merged: dict[datetime, dict[str, int]] = {}
        for at, counts in series.items():
            start = datetime.fromtimestamp(at.timestamp() // interval * interval, at.tzinfo)
            into = merged.setdefault(start, dict.fromkeys(counts, 0))
            for key, n in counts.items():
                into[key] += n
        series = merged
    return interval, series


def _biggest_first(
    groups: Mapping[str | None, Mapping[str, int]],
) -> list[tuple[str | None, Mapping[str, int]]]:
    return sorted(groups.items(), key=lambda kv: (-sum(kv[1].values()), kv[0] or ""))


def _dimension(name: str, groups: Mapping[str | None, Mapping[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for key, statuses in _biggest_first(groups):
        delivered = statuses.get("delivered", 0)
        # Settled by a carrier: rejections at expansion (blacklisted, invalid) are not counted.
        done = delivered + statuses.get("failed", 0) + statuses.get("unknown", 0)
        rows.append(
            {
                name: key,
                "messages": sum(statuses.values()),
                "by_status": dict(sorted(statuses.items())),
                "delivery_rate": _rate(delivered, done),
            }
        )
    return rows


def _bind_row(bind: str | None, states: Mapping[str, int]) -> dict[str, Any]:
    total = sum(states.values())
    taken = total - sum(states.get(s, 0) for s in _UNSENT_PART_STATES)
    return {
        "bind": bind,
        "parts": total,
        "by_state": dict(sorted(states.items())),
        "final": sum(states.get(s, 0) for s in _FINAL_PART_STATES),
        "delivery_rate": _rate(states.get("delivered", 0), taken),
    }


def _seconds(value: float | None) -> float | None:
    """Seconds to three significant digits (the histogram's), at most to the millisecond."""
    if value is None or value == 0:
        return value
    digits = max(0, min(3, 2 - math.floor(math.log10(abs(value)))))
    return round(value, digits)
