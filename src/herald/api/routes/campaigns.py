"""Campaigns: create, list, read with progress, edit while scheduled, delete when idle; runs
and the lifecycle; per-message status; recipient files; message preview."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from herald.api.deps import (
    CurrentAccount,
    IdempotencyKey,
    PagingDep,
    Services,
    ServicesDep,
    answer_response,
    as_answered,
)
from herald.api.errors import responses
from herald.api.schemas import (
    MAX_ID,
    CampaignCreated,
    CampaignDetail,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStopped,
    CampaignUpdated,
    MessagePage,
    Page,
    PreviewIn,
    PreviewOut,
    RunIn,
    RunOut,
    Text,
    Timestamp,
    check_quiet_hours,
    page_of,
)
from herald.campaigns.idempotency import Answer
from herald.campaigns.links import links_base_url
from herald.campaigns.preview import preview_message
from herald.campaigns.run_result import Rest
from herald.campaigns.service import CampaignSort
from herald.delivery.destinations import DestinationPolicy
from herald.errors import RequestError
from herald.states import CampaignStatus, MessageStatus

router = APIRouter(tags=["campaigns"])
# A send-now run's rest waits this long at most for the dispatcher's next send (_store_rests).
FIRST_SEND = 0.1


def check_callback_urls(
    body: BaseModel,
    services: Services,
    fields: tuple[str, ...] = ("callback", "campaign_callback"),
) -> None:
    """A callback URL whose host is an internal address is refused now, naming the field
    (names are checked against what they resolve to when each callback is delivered)."""
    policy = DestinationPolicy(services.ctx.config.callbacks.allow_private)
    problems = [
        {"location": f"body.{field}", "message": why, "type": "callback_destination"}
        for field in fields
        if (url := getattr(body, field, None)) is not None
        and (why := policy.literal_refusal(str(url))) is not None
    ]
    if problems:
        first = problems[0]
        raise RequestError("invalid_request", f"{first['location']}: {first['message']}", problems)


CampaignId = Annotated[int, Path(ge=1, le=MAX_ID)]


def given(body: BaseModel) -> Callable[[], Any]:
    """The body as given (not its defaults), JSON values only: what makes a retried request
    the same one. Read when the request has an Idempotency-Key (Idempotency.perform)."""
    return lambda: body.model_dump(mode="json", exclude_unset=True, by_alias=True)


@router.post("/campaigns/preview", response_model=PreviewOut, responses=responses(400))
async def preview(body: PreviewIn, account: CurrentAccount, services: ServicesDep) -> dict:
    """Render the template for a sample recipient and show how it would be sent: encoding,
    segments, units per part, characters left (the output of `herald preview --json`).
    %Link% and %OptOutLink% show as links of the length recipients get."""
    sample = body.recipient
    ctx = services.ctx
    return preview_message(
        body.message,
        fallback_values=body.fallback_values,
        name=sample.name if sample else None,
        labels=sample.labels if sample else {},
        flash=body.flash,
        transcode=body.transcode,
        concat=body.concat,
        national=body.national,
        links_base_url=ctx.links_base_url or links_base_url(ctx.config),
    )


@router.post(
    "/campaigns",
    response_model=CampaignCreated,
    status_code=201,
    responses=responses(400, 402, 404, 409),
)
async def create_campaign(
    body: CampaignIn,
    account: CurrentAccount,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a campaign. Without `scheduled_at` it runs at once (`run` in the answer); if
    that run is refused (e.g. `insufficient_balance`) the campaign is not kept. Numbers are
    checked now: `intake` lists the invalid ones with why, and the blacklisted ones. With an
    `Idempotency-Key`, a retry answers the first answer and creates nothing."""
    check_quiet_hours(body.quiet_hours)
    check_callback_urls(body, services)
    spec = body.spec()
    # A large run's messages past its first ones, stored once the request has committed so
    # that the first are sent meanwhile (herald/campaigns/runs.py).
    later: list[Rest] = []

    async def work(conn: Any) -> Answer:
        later.clear()  # a retried transaction starts over
        view = await services.campaigns.create(account.id, spec, conn=conn, later=later)
        return Answer(201, as_answered(CampaignCreated, view))

    answer = await services.idempotency.perform(
        account.id, idempotency_key, "POST /v1/campaigns", given(body), work
    )
    if not answer.replayed and answer.body.get("run") is not None:
        services.ctx.wake()
        # Shielded: a client gone meanwhile does not leave the rest to maintenance's grace.
        await asyncio.shield(_store_rests(services, later))
    return answer_response(answer)


async def _store_rests(services: Services, later: list[Rest]) -> None:
    """The rest of a send-now run, once the dispatcher has sent its first claim (FIRST_SEND
    seconds at most): the rest's COPY encodes its rows on this loop, and taking the loop from
    that claim made the first submit_sm leave 20-30 ms later (docs/performance.md)."""
    await services.ctx.next_send(FIRST_SEND)
    await services.campaigns.store_rests(later)


@router.get("/campaigns", response_model=Page[CampaignOut], responses=responses())
async def list_campaigns(
    account: CurrentAccount,
    services: ServicesDep,
    paging: PagingDep,
    status: Annotated[list[CampaignStatus] | None, Query()] = None,
    name_contains: Annotated[Text | None, Query(max_length=30)] = None,
    created_from: Annotated[Timestamp | None, Query()] = None,
    created_before: Annotated[Timestamp | None, Query()] = None,
    scheduled_from: Annotated[Timestamp | None, Query()] = None,
    scheduled_before: Annotated[Timestamp | None, Query()] = None,
    sort: CampaignSort = "created_at",
    order: Literal["asc", "desc"] = "desc",
) -> dict:
    """Campaigns, filtered (status may repeat; date ranges are [from, before)) and sorted."""
    total, items = await services.campaigns.list_campaigns(
        account.id,
        statuses=status,
        name_contains=name_contains,
        created_from=created_from,
        created_before=created_before,
        scheduled_from=scheduled_from,
        scheduled_before=scheduled_before,
        sort=sort,
        order=order,
        limit=paging.limit,
        offset=paging.offset,
    )
    return page_of(items, page=paging.page, page_size=paging.page_size, total=total)


@router.get("/campaigns/{campaign_id:int}", response_model=CampaignDetail, responses=responses(404))
async def get_campaign(
    campaign_id: CampaignId, account: CurrentAccount, services: ServicesDep
) -> dict:
    """The campaign with its audience, progress counters (messages and segments per status)
    and batches (one per run, with the credit each used)."""
    return await services.campaigns.get(account.id, campaign_id)


@router.patch(
    "/campaigns/{campaign_id:int}",
    response_model=CampaignUpdated,
    responses=responses(400, 404, 409),
)
async def update_campaign(
    campaign_id: CampaignId, body: CampaignPatch, account: CurrentAccount, services: ServicesDep
) -> dict:
    """Change anything while the campaign is scheduled (else `campaign_not_scheduled`). A
    recipient field given replaces that source: `to` the numbers, `recipients` the
    recipient objects, `contacts` and `groups` their lists; uploaded file rows stay."""
    check_quiet_hours(body.quiet_hours)
    check_callback_urls(body, services)
    return await services.campaigns.update(account.id, campaign_id, body.spec())


@router.delete("/campaigns/{campaign_id:int}", status_code=204, responses=responses(404, 409))
async def delete_campaign(
    campaign_id: CampaignId, account: CurrentAccount, services: ServicesDep
) -> None:
    """Delete a campaign with its messages, unless it is running or suspended (stop it
    first: `campaign_running`)."""
    await services.campaigns.delete(account.id, campaign_id)


@router.get(
    "/campaigns/{campaign_id:int}/messages", response_model=MessagePage, responses=responses(404)
)
async def list_messages(
    campaign_id: CampaignId,
    account: CurrentAccount,
    services: ServicesDep,
    paging: PagingDep,
    status: Annotated[list[MessageStatus] | None, Query()] = None,
    batch_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_ID,
            description="the page after this message id (`next_after` of the page before): "
            "every page costs the same however deep; `total` is not counted, and `page` is not "
            "used (the page starts after this id)",
        ),
    ] = None,
) -> dict:
    """Messages in id order with status, reason, clicks, and each part's submit and receipt
    detail. Page through a large campaign with `after` (then `page` is not used)."""
    total, items = await services.campaigns.messages(
        account.id,
        campaign_id,
        statuses=status,
        batch_id=batch_id,
        limit=paging.limit,
        offset=0 if after is not None else paging.offset,
        after=after,
    )
    next_after = items[-1]["id"] if len(items) == paging.page_size else None
    if total is None:
        return {
            "items": items,
            "page": 1,
            "page_size": paging.page_size,
            "total": None,
            "pages": None,
            "next_after": next_after,
        }
    page = page_of(items, page=paging.page, page_size=paging.page_size, total=total)
    if paging.offset + len(items) >= total:
        next_after = None
    return {**page, "next_after": next_after}


@router.post(
    "/campaigns/{campaign_id:int}/run",
    response_model=RunOut,
    responses=responses(400, 402, 404, 409),
)
async def run_campaign(
    campaign_id: CampaignId,
    account: CurrentAccount,
    services: ServicesDep,
    body: RunIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Start a new batch now (from scheduled, completed or stopped): answers its `batch_id`
    and the message `count`. `message` overrides the template for this run only. With an
    `Idempotency-Key`, a retry answers the first run and starts no other."""
    body = body or RunIn()

    async def work(conn: Any) -> Answer:
        result = await services.lifecycle.run(
            account.id,
            campaign_id,
            message=body.message,
            description=body.batch_description,
            track_link_url=None if body.track_link_url is None else str(body.track_link_url),
            conn=conn,
        )
        return Answer(200, as_answered(RunOut, asdict(result)))

    answer = await services.idempotency.perform(
        account.id, idempotency_key, f"POST /v1/campaigns/{campaign_id}/run", given(body), work
    )
    if not answer.replayed:
        services.ctx.wake()
    return answer_response(answer)


@router.post(
    "/campaigns/{campaign_id:int}/suspend",
    response_model=CampaignDetail,
    responses=responses(404, 409),
)
async def suspend_campaign(
    campaign_id: CampaignId, account: CurrentAccount, services: ServicesDep
) -> dict:
    """Pause sending (running -> suspended); messages already sent keep getting receipts."""
    await services.lifecycle.suspend(account.id, campaign_id)
    return await services.campaigns.get(account.id, campaign_id)


@router.post(
    "/campaigns/{campaign_id:int}/resume",
    response_model=CampaignDetail,
    responses=responses(404, 409),
)
async def resume_campaign(
    campaign_id: CampaignId, account: CurrentAccount, services: ServicesDep
) -> dict:
    await services.lifecycle.resume(account.id, campaign_id)
    return await services.campaigns.get(account.id, campaign_id)


@router.post(
    "/campaigns/{campaign_id:int}/stop",
    response_model=CampaignStopped,
    responses=responses(404, 409),
)
async def stop_campaign(
    campaign_id: CampaignId, account: CurrentAccount, services: ServicesDep
) -> dict:
    """Stop for good (from scheduled, running or suspended): messages not yet sent become
    `stopped`. A stopped campaign can be run again."""
    stopped = await services.lifecycle.stop(account.id, campaign_id)
    view = await services.campaigns.get(account.id, campaign_id)
    return {**view, "stopped_messages": stopped}
