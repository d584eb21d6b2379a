"""Campaigns: the list, a campaign's page (live progress, report, batches, messages), its
lifecycle buttons and its CSV export."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from herald.api.schemas import MAX_ID
from herald.campaigns.service import SORT_FIELDS
from herald.errors import RequestError
from herald.states import CAMPAIGN, MESSAGE
from herald.ui import charts
from herald.ui.console import (
    REFUSALS,
    ConsoleDep,
    Form,
    NotFound,
    SignedIn,
    refusal,
    see_other,
    text,
)
from herald.ui.paging import Cursor, Pager

router = APIRouter()
T = TypeVar("T")

PAGE_SIZES = (20, 50, 100)
MESSAGE_PAGE = 50
# The campaign table's user events, as buttons, in the order a user reads them.
ACTIONS = ("run", "suspend", "resume", "stop")
ACTION_WORDS = {"run": "Run again", "suspend": "Suspend", "resume": "Resume", "stop": "Stop"}
IDLE = ("scheduled", "completed", "stopped")  # delete needs a campaign that is not sending
LIVE = ("scheduled", "running", "suspended")  # pages of these refresh themselves
CampaignId = Annotated[int, Path(ge=1, le=MAX_ID)]


def actions_for(status: str) -> list[str]:
    """The buttons a campaign in `status` shows: what the campaign table lets a user do."""
    allowed = set(CAMPAIGN.user_actions(status))
    return [a for a in ACTIONS if a in allowed] + (["delete"] if status in IDLE else [])


async def _not_found_as_page(campaign_id: int, read: Awaitable[T]) -> T:
    """`read`, its campaign_not_found answered with the console's 404 page."""
    try:
        return await read
    except RequestError as exc:
        if exc.code == "campaign_not_found":
            raise NotFound(f"There is no campaign {campaign_id} in this account.") from None
        raise


async def _detail(ui: Any, account_id: int, campaign_id: int) -> dict[str, Any]:
    """The campaign's summary (herald.ui.summaries): counts by message status, batches."""
    detail: dict[str, Any] = await _not_found_as_page(
        campaign_id, ui.summaries.get(account_id, campaign_id)
    )
    return detail


def summary(detail: dict[str, Any]) -> dict[str, Any]:
    """The numbers a campaign shows in the list and refreshes on its page."""
    messages = detail["progress"]["messages"]
    outcome = charts.Outcome.of(messages)
    settled = outcome.delivered + outcome.failed
    clicks = detail["progress"].get("clicks")
    return {
        "id": detail["id"],
        "status": detail["status"],
        "expected": int(messages["expected"]),
        "messages": {s: int(messages.get(s, 0)) for s in MESSAGE.states},
        "outcome": outcome,
        "delivery_rate": outcome.delivered / settled if settled else None,
        "clicks": None if clicks is None else clicks.get("unique", clicks.get("clicks")),
        "actions": actions_for(detail["status"]),
    }


@router.get("/campaigns")
async def campaign_list(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    status: Annotated[list[str] | None, Query()] = None,
    name: Annotated[str, Query(max_length=30)] = "",
    sort: Annotated[str, Query()] = "created_at",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query()] = PAGE_SIZES[0],
) -> Response:
    statuses = [s for s in status or [] if s in CAMPAIGN.states] or None
    sort = sort if sort in SORT_FIELDS else "created_at"
    size = size if size in PAGE_SIZES else PAGE_SIZES[0]
    total, rows = await ui.services.campaigns.list_campaigns(
        session.account_id,
        statuses=statuses,
        name_contains=name.strip() or None,
        created_from=None,
        created_before=None,
        scheduled_from=None,
        scheduled_before=None,
        sort=sort,
        order=order,
        limit=size,
        offset=(page - 1) * size,
    )
    # One summary per campaign shown (a page, never the account's whole list), side by side.
    details = await asyncio.gather(*(ui.summaries.get(session.account_id, r["id"]) for r in rows))
    pager = Pager(page=page, size=size, total=total)
    return ui.page(
        request,
        "campaigns.html",
        {
            "nav": "campaigns",
            "rows": [
                {
                    "campaign": r,
                    "summary": summary(d),
                    "bar": charts.progress_bar(summary(d)["outcome"]),
                }
                for r, d in zip(rows, details, strict=True)
            ],
            "pager": pager,
            "filters": {
                "status": statuses or [],
                "name": name,
                "sort": sort,
                "order": order,
                "size": size,
            },
            "statuses": CAMPAIGN.states,
            "sorts": SORT_FIELDS,
            "sizes": PAGE_SIZES,
            "notice": request.query_params.get("notice"),
        },
        session=session,
    )


@router.get("/campaigns/{campaign_id:int}")
async def campaign_page(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    campaign_id: CampaignId,
    status: Annotated[list[str] | None, Query()] = None,
    batch: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    trail: Annotated[str, Query(max_length=1000)] = "",
) -> Response:
    statuses = [s for s in status or [] if s in MESSAGE.states] or None
    # The summary, the report (which waits for the same summary read) and the messages side
    # by side. Messages by keyset (after an id): any page of a million-message campaign costs
    # what the first does (docs/performance.md: 27 ms against 11 s for the last by offset).
    detail, report, (total, messages) = await asyncio.gather(
        _detail(ui, session.account_id, campaign_id),
        _not_found_as_page(campaign_id, ui.insight.report(session.account_id, campaign_id)),
        _not_found_as_page(
            campaign_id,
            ui.services.campaigns.messages(
                session.account_id,
                campaign_id,
                statuses=statuses,
                batch_id=batch,
                limit=MESSAGE_PAGE,
                offset=0,
                after=after,
            ),
        ),
    )
    numbers = summary(detail)
    return ui.page(
        request,
        "campaign.html",
        {
            "nav": "campaigns",
            "c": detail,
            "s": numbers,
            "bar": charts.progress_bar(numbers["outcome"], width=600, height=18),
            "report": report,
            "charts": _report_charts(report),
            "messages": messages,
            "cursor": Cursor(
                after=after,
                trail=Cursor.parse_trail(trail) if after is not None else (),
                size=MESSAGE_PAGE,
                shown=len(messages),
                last_id=messages[-1]["id"] if messages else None,
                total=total,
            ),
            "message_filter": {"status": statuses or [], "batch": batch},
            "message_states": MESSAGE.states,
            "live": detail["status"] in LIVE,
            "action_words": ACTION_WORDS,
            "notice": request.query_params.get("notice"),
            "notice_detail": request.query_params.get("detail"),
        },
        session=session,
    )


def _report_charts(report: dict[str, Any]) -> dict[str, Any]:
    by_status = report["messages"]["by_status"]
    return {
        "status": charts.bar_chart(
            [(s, int(by_status.get(s, 0))) for s in MESSAGE.states if by_status.get(s)],
            title="Messages by status",
            colour=charts.COLOURS["sent"],
        ),
        "timeline": charts.timeline_chart(
            report["timeline"]["points"],
            title="Messages sent, delivered, failed and clicked over time",
        ),
        "reasons": charts.bar_chart(
            [
                (f"{r['reason']} ({r['status']})", int(r["messages"]))
                for r in report["reasons"]
                if r["status"] != "delivered"
            ][:12],
            title="Failures by reason",
        ),
        "countries": charts.bar_chart(
            [(str(c["country"] or "unknown"), int(c["messages"])) for c in report["countries"]][
                :12
            ],
            title="Messages by destination country",
            colour=charts.COLOURS["delivered"],
        ),
    }


@router.get("/campaigns/{campaign_id:int}/progress.json")
async def campaign_progress(
    ui: ConsoleDep, session: SignedIn, campaign_id: CampaignId
) -> JSONResponse:
    """What the campaign page refreshes without reloading (polled every refresh_seconds)."""
    detail = await _detail(ui, session.account_id, campaign_id)
    numbers = summary(detail)
    outcome = numbers.pop("outcome")
    return JSONResponse(
        {
            **numbers,
            "outcome": {
                "delivered": outcome.delivered,
                "failed": outcome.failed,
                "pending": outcome.pending,
                "stopped": outcome.stopped,
                "label": outcome.describe(),
            },
            "bar": str(charts.progress_bar(outcome, width=600, height=18)),
            "live": detail["status"] in LIVE,
            "batches": [{"id": b["id"], "status": b["status"]} for b in detail["batches"]],
        }
    )


@router.post("/campaigns/{campaign_id:int}/{action}")
async def campaign_action(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    form: Form,
    campaign_id: CampaignId,
    action: Literal["run", "suspend", "resume", "stop", "delete"],
) -> Response:
    account = session.account_id
    lifecycle = ui.services.lifecycle
    ui.summaries.forget(account, campaign_id)  # the page after the change shows it
    ui.insight.forget(account, campaign_id)
    try:
        if action == "run":
            result = await lifecycle.run(
                account, campaign_id, description=text(form, "description") or None
            )
            detail = f"batch {result.batch_id}: {result.count} message(s) queued"
        elif action == "suspend":
            await lifecycle.suspend(account, campaign_id)
            detail = None
        elif action == "resume":
            await lifecycle.resume(account, campaign_id)
            detail = None
        elif action == "stop":
            stopped = await lifecycle.stop(account, campaign_id)
            detail = f"{stopped} message(s) not sent were stopped"
        else:
            await ui.services.campaigns.delete(account, campaign_id)
            return see_other(request, "/campaigns", notice="deleted")
    except REFUSALS as exc:
        refused = refusal(exc)
        assert refused is not None
        if refused.code == "campaign_not_found":
            raise NotFound(f"There is no campaign {campaign_id} in this account.") from None
        return see_other(
            request, f"/campaigns/{campaign_id}", notice="refused", detail=str(refused)
        )
    return see_other(request, f"/campaigns/{campaign_id}", notice=action, detail=detail)


@router.get("/campaigns/{campaign_id:int}/export.csv")
async def export(ui: ConsoleDep, session: SignedIn, campaign_id: CampaignId) -> Response:
    try:
        done = await ui.insight.export(session.account_id, campaign_id)
    except RequestError as exc:
        if exc.code == "campaign_not_found":
            raise NotFound(f"There is no campaign {campaign_id} in this account.") from None
        raise
    headers = {
        "Content-Disposition": f'attachment; filename="{done.filename}"',
        "Cache-Control": "no-store",
    }
    if done.messages is not None:
        headers["X-Herald-Messages"] = str(done.messages)
    return StreamingResponse(done.rows, media_type="text/csv; charset=utf-8", headers=headers)
