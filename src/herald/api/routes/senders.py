"""The sender ids and short codes an account may send from."""

from __future__ import annotations

from fastapi import APIRouter

from herald.api.deps import CurrentAccount, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import SenderIn, SenderOut

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
