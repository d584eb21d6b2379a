"""Groups of contacts; a campaign naming a group sends to its members at run time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from herald.api.deps import CurrentAccount, PagingDep, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import MAX_ID, ContactOut, GroupIn, GroupOut, MembersIn, Page, page_of

router = APIRouter(tags=["groups"])

GroupId = Annotated[int, Path(ge=1, le=MAX_ID)]
ContactId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/groups", response_model=GroupOut, status_code=201, responses=responses(409))
async def create_group(body: GroupIn, account: CurrentAccount, services: ServicesDep) -> dict:
    return await services.book.create_group(account.id, body.name)


@router.get("/groups", response_model=Page[GroupOut], responses=responses())
async def list_groups(account: CurrentAccount, services: ServicesDep, paging: PagingDep) -> dict:
    total, items = await services.book.groups(account.id, limit=paging.limit, offset=paging.offset)
    return page_of(items, page=paging.page, page_size=paging.page_size, total=total)


@router.get("/groups/{group_id:int}", response_model=GroupOut, responses=responses(404))
async def get_group(group_id: GroupId, account: CurrentAccount, services: ServicesDep) -> dict:
    return await services.book.group(account.id, group_id)


@router.patch("/groups/{group_id:int}", response_model=GroupOut, responses=responses(404, 409))
async def rename_group(
    group_id: GroupId, body: GroupIn, account: CurrentAccount, services: ServicesDep
) -> dict:
    return await services.book.rename_group(account.id, group_id, body.name)


@router.delete("/groups/{group_id:int}", status_code=204, responses=responses(404))
async def delete_group(group_id: GroupId, account: CurrentAccount, services: ServicesDep) -> None:
    """Delete a group (its contacts stay)."""
    await services.book.delete_group(account.id, group_id)


@router.get(
    "/groups/{group_id:int}/contacts", response_model=Page[ContactOut], responses=responses(404)
)
async def list_members(
    group_id: GroupId, account: CurrentAccount, services: ServicesDep, paging: PagingDep
) -> dict:
    total, items = await services.book.contacts(
        account.id,
        phone_prefix=None,
        name_contains=None,
        group_id=group_id,
        limit=paging.limit,
        offset=paging.offset,
    )
    return page_of(items, page=paging.page, page_size=paging.page_size, total=total)


@router.post("/groups/{group_id:int}/contacts", response_model=GroupOut, responses=responses(404))
async def add_members(
    group_id: GroupId, body: MembersIn, account: CurrentAccount, services: ServicesDep
) -> dict:
    """Add contacts to the group (all or none: an unknown id is `contact_not_found`)."""
    return await services.book.add_members(account.id, group_id, body.contact_ids)


@router.delete(
    "/groups/{group_id:int}/contacts/{contact_id:int}", status_code=204, responses=responses(404)
)
async def remove_member(
    group_id: GroupId, contact_id: ContactId, account: CurrentAccount, services: ServicesDep
) -> None:
    await services.book.remove_member(account.id, group_id, contact_id)
