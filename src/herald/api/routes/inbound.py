"""Inbound messages: the replies to the account's senders, stored before the carrier got its
answer, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from herald.api.deps import CurrentAccount, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import InboundPage, Phone, SenderAddress, Timestamp

router = APIRouter(tags=["inbound"])


@router.get("/inbound", response_model=InboundPage, responses=responses(400, 404))
async def list_inbound(
    account: CurrentAccount,
    services: ServicesDep,
    sender: Annotated[SenderAddress | None, Query(description="one of your senders")] = None,
    phone: Annotated[Phone | None, Query(description="the handset")] = None,
    received_from: Annotated[Timestamp | None, Query()] = None,
    received_before: Annotated[Timestamp | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    """Replies (mobile-originated messages) to the account's senders, newest first, filtered
    by sender, by phone and by time received ([from, before)). Concatenated replies come as
    one message; `keyword` and `action` say what a keyword did (opt-out, opt-in)."""
    return await services.inbox.list(
        account.id,
        sender=sender,
        phone=phone,
        received_from=received_from,
        received_before=received_before,
        cursor=cursor,
        limit=limit,
    )
