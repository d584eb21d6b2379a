"""Campaign insight: the report, the messages as CSV, the audience before a run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from herald.api.deps import CurrentAccount, PagingDep, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import MAX_ID, Page, RecipientOut, ReportOut, page_of

router = APIRouter(tags=["insight"])

CampaignId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/campaigns/{campaign_id}/report", response_model=ReportOut, responses=responses(404))
async def campaign_report(
    campaign_id: CampaignId,
    account: CurrentAccount,
    services: ServicesDep,
    interval: Annotated[
        int,
        Query(
            ge=60,
            le=86_400,
            multiple_of=60,
            description="seconds per point of the timeline (whole minutes; default one)",
        ),
    ] = 60,
) -> dict:
    """The campaign's results: messages by status and reason, by destination country, by
    route and by carrier account; delivery rate; submit-to-receipt latency; clicks and
    opt-outs; credit; and messages sent, delivered, failed and clicked over time."""
    return await services.reports.report(account.id, campaign_id, interval=interval)


@router.get(
    "/campaigns/{campaign_id}/messages.csv",
    response_class=StreamingResponse,
    responses={
        **responses(404),
        200: {"content": {"text/csv": {}}, "description": "every message, one per row"},
    },
)
async def export_messages(
    campaign_id: CampaignId, account: CurrentAccount, services: ServicesDep
) -> StreamingResponse:
    """Every message of the campaign as CSV, in id order, streamed: phone, country, status,
    reason, parts, carrier ids, times, clicks. `X-Herald-Messages` says how many rows to
    expect."""
    export = await services.exports.messages_csv(account.id, campaign_id)
    return StreamingResponse(
        export.rows,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "X-Herald-Messages": str(export.messages),
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/campaigns/{campaign_id}/recipients",
    response_model=Page[RecipientOut],
    responses=responses(404),
)
async def list_recipients(
    campaign_id: CampaignId, account: CurrentAccount, services: ServicesDep, paging: PagingDep
) -> dict:
    """The campaign's audience as a run would read it now (numbers, recipient objects, file
    rows, then contacts and group members), each with whether it would be sent to and why
    not."""
    total, items = await services.recipients.page(
        account.id, campaign_id, limit=paging.limit, offset=paging.offset
    )
    return page_of(items, page=paging.page, page_size=paging.page_size, total=total)
