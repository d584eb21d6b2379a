"""The sender ids and short codes an account may send from, and where replies to each go."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from herald.api.deps import CurrentAccount, ServicesDep
from herald.api.errors import responses
from herald.api.routes.campaigns import check_callback_urls
from herald.api.schemas import MAX_ID, SenderIn, SenderOut, SenderPatch

router = APIRouter(tags=["senders"])


@router.get("/senders", response_model=list[SenderOut], responses=responses())
async def list_senders(account: CurrentAccount, services: ServicesDep) -> list[dict]:
    """The senders this account may use in campaigns."""
    return await services.book.senders(account.id)


@router.post("/senders", response_model=SenderOut, status_code=201, responses=responses(400, 409))
async def add_sender(body: SenderIn, account: CurrentAccount, services: ServicesDep) -> dict:
    """Add a sender, checked by the sender rules (`invalid_sender` names the rule broken):
    alphanumeric up to 11 GSM characters, a short code, or a number in international form."""
    return await services.book.add_sender(account.id, body.address)


@router.post("/senders/{sender_id:int}", response_model=SenderOut, responses=responses(400, 404))
async def update_sender(
    sender_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: SenderPatch,
    account: CurrentAccount,
    services: ServicesDep,
) -> dict:
    """Set where replies to this sender are POSTed (`inbound_callback`, an `inbound` callback
    per message, signed like every callback); null stops them. Replies are stored either way
    (GET /v1/inbound)."""
    check_callback_urls(body, services, ("inbound_callback",))
    url = str(body.inbound_callback) if body.inbound_callback is not None else None
    return await services.book.set_inbound_callback(account.id, sender_id, url)
