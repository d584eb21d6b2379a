"""Messages one by one: send to one number or up to 1,000 (with an Idempotency-Key to retry
safely), read any of the account's messages by id, by client reference or page by page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from herald.api.deps import (
    CurrentAccount,
    IdempotencyKey,
    ServicesDep,
    answer_response,
    as_answered,
)
from herald.api.errors import responses
from herald.api.routes.campaigns import check_callback_urls, given
from herald.api.schemas import (
    MAX_ID,
    ClientRef,
    MessageCursorPage,
    MessageDetail,
    MessageIn,
    MessagesSent,
    Phone,
    check_quiet_hours,
)
from herald.campaigns.idempotency import Answer
from herald.states import MessageStatus
from herald.store.messages import MessageFilter

router = APIRouter(tags=["messages"])

MessageId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post(
    "/messages",
    response_model=MessagesSent,
    status_code=202,
    responses=responses(400, 402, 409),
)
async def send_message(
    body: MessageIn,
    account: CurrentAccount,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Send one message to one number or up to 1,000: the same checks, blacklist, routing,
    credit, receipts and callbacks as a campaign's messages, as transactional traffic (ahead
    of bulk campaigns). Answers 202 with a message id per number (in the order given), its
    encoding and segments, and the credit used. Quiet hours are not respected unless asked."""
    check_quiet_hours(body.quiet_hours)
    check_callback_urls(body, services)
    spec = body.spec()

    async def work(conn: Any) -> Answer:
        sent = await services.messages.send(conn, account.id, spec)
        return Answer(202, as_answered(MessagesSent, sent))

    answer = await services.idempotency.perform(
        account.id, idempotency_key, "POST /v1/messages", given(body), work
    )
    if not answer.replayed:
        services.ctx.wake()
    return answer_response(answer)


@router.get("/messages/{message_id:int}", response_model=MessageDetail, responses=responses(404))
async def get_message(
    message_id: MessageId, account: CurrentAccount, services: ServicesDep
) -> dict:
    """Any message of the account, sent alone or by a campaign: status, parts, receipts."""
    return await services.messages.get(account.id, message_id)


@router.get("/messages", response_model=MessageCursorPage, responses=responses(400))
async def list_messages(
    account: CurrentAccount,
    services: ServicesDep,
    client_ref: Annotated[ClientRef | None, Query()] = None,
    phone: Annotated[Phone | None, Query()] = None,
    status: Annotated[list[MessageStatus] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    """The account's messages, sent alone or by campaigns, newest first (by run, then by
    message), filtered by client reference, phone and status (status may repeat).
    `next_cursor` continues the list; it is null on the last page."""
    return await services.messages.list_messages(
        account.id,
        MessageFilter(status, phone, client_ref),
        cursor=cursor,
        limit=limit,
    )
