"""Numbers the account never sends to (added here, or by an opt-out reply)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from herald.api.deps import CurrentAccount, PagingDep, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import BlacklistAdded, BlacklistEntry, BlacklistIn, Page, Phone, page_of

router = APIRouter(tags=["blacklist"])


@router.get("/blacklist", response_model=Page[BlacklistEntry], responses=responses())
async def list_blacklist(account: CurrentAccount, services: ServicesDep, paging: PagingDep) -> dict:
    total, items = await services.book.blacklist(
        account.id, limit=paging.limit, offset=paging.offset
    )
    return page_of(items, page=paging.page, page_size=paging.page_size, total=total)


@router.post("/blacklist", response_model=BlacklistAdded, status_code=201, responses=responses(400))
async def add_to_blacklist(
    body: BlacklistIn, account: CurrentAccount, services: ServicesDep
) -> dict:
    """Blacklist numbers (all or none: one invalid number refuses the request with
    `invalid_numbers`). Numbers already there stay as they were."""
    return {"added": await services.book.add_to_blacklist(account.id, body.phones)}


@router.delete("/blacklist/{phone}", status_code=204, responses=responses(400, 404))
async def remove_from_blacklist(
    phone: Annotated[Phone, Path(description="the number, e.g. %2B306948530920")],
    account: CurrentAccount,
    services: ServicesDep,
) -> None:
    await services.book.remove_from_blacklist(account.id, phone)
