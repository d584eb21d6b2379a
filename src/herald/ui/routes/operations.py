"""The operations page: each bind's state, window, rate limit, throttling and reconnects, the
dispatcher's slots, the callbacks outbox (the numbers /metrics exports, read from the same
herald.metrics.Metrics), and the account's own queued and deferred backlog.

The page polls `operations.json`; rates (segments a second) are worked out in the browser
from two readings of the counters, as Prometheus's rate() does, so the server keeps nothing.
The numbers are this process's: with several herald processes, each shows its own binds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from herald.metrics import Metrics
from herald.ui.console import Console, ConsoleDep, SignedIn
from herald.ui.sessions import Session

router = APIRouter()

ACTIVE = ["running", "suspended"]
MAX_ACTIVE = 100  # campaigns whose backlog is added up (the account's busiest)


def bind_rows(metrics: Metrics) -> list[dict[str, Any]]:
    rows = []
    for stats in sorted(metrics.binds.values(), key=lambda b: b.name):
        rows.append(
            {
                "name": stats.name,
                "state": stats.state(),
                "window_in_use": stats.window_in_use(),
                "rate_limit": round(stats.rate(), 2),
                "segments_sent": stats.segments_sent,
                "submits": dict(sorted(stats.submits.items())),
                "throttle_events": stats.throttle_events,
                "reconnects": stats.reconnects,
                # Out after max_timeouts unanswered submits in a row (docs/operations.md).
                "rotation": "in" if stats.in_rotation() else "out",
                "timeouts": stats.timeouts,
                "receipts": sum(stats.receipts.values()),
            }
        )
    return rows


async def backlog(ui: Console, session: Session) -> dict[str, Any]:
    """The account's messages waiting to go: queued and deferred, over its active campaigns."""
    total, campaigns = await ui.services.campaigns.list_campaigns(
        session.account_id,
        statuses=ACTIVE,
        name_contains=None,
        created_from=None,
        created_before=None,
        scheduled_from=None,
        scheduled_before=None,
        sort="created_at",
        order="desc",
        limit=MAX_ACTIVE,
        offset=0,
    )
    details = await asyncio.gather(
        *(ui.summaries.get(session.account_id, c["id"]) for c in campaigns)
    )
    queued = sum(int(d["progress"]["messages"]["queued"]) for d in details)
    deferred = sum(int(d["progress"]["messages"]["deferred"]) for d in details)
    return {"campaigns": total, "counted": len(campaigns), "queued": queued, "deferred": deferred}


async def snapshot(ui: Console, session: Session) -> dict[str, Any]:
    m = ui.metrics
    return {
        "at": ui.clock().timestamp(),
        "binds": bind_rows(m),
        "dispatcher": {
            "leased_parts": m.leased_parts(),
            "lease_capacity": m.lease_capacity(),
            "due_queues": m.due_queues(),
        },
        "callbacks": {
            "outbox": m.callback_outbox_depth(),
            "delivered": m.callbacks_delivered,
            "failures": m.callback_failures,
        },
        "database": {"unreachable_seconds": round(m.database_unreachable(), 1)},
        "receipts": {
            "orphans": m.orphan_receipts,
            "duplicates": m.duplicate_receipts,
            "unmatched": m.unmatched_receipts,
        },
        "backlog": await backlog(ui, session),
    }


@router.get("/operations")
async def operations_page(request: Request, ui: ConsoleDep, session: SignedIn) -> Response:
    return ui.page(
        request,
        "operations.html",
        {"nav": "operations", "o": await snapshot(ui, session)},
        session=session,
    )


@router.get("/operations.json")
async def operations_json(ui: ConsoleDep, session: SignedIn) -> JSONResponse:
    return JSONResponse(await snapshot(ui, session))
