"""Contacts: phone, name and labels (the template's custom fields)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from herald.api.deps import CurrentAccount, PagingDep, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import (
    MAX_ID,
    ContactImportIn,
    ContactImportOut,
    ContactIn,
    ContactOut,
    ContactPatch,
    Page,
    Text,
    page_of,
)
from herald.errors import RequestError

router = APIRouter(tags=["contacts"])

ContactId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/contacts", response_model=ContactOut, status_code=201, responses=responses(400, 409))
async def create_contact(body: ContactIn, account: CurrentAccount, services: ServicesDep) -> dict:
    return await services.book.create_contact(account.id, body.phone, body.name, body.labels)


@router.get("/contacts", response_model=Page[ContactOut], responses=responses(404))
async def list_contacts(
    account: CurrentAccount,
    services: ServicesDep,
    paging: PagingDep,
    phone_prefix: Annotated[
        str | None,
        Query(pattern=r"^\+?[0-9]{1,15}$", description="E.164 digits the phone starts with"),
    ] = None,
    name_contains: Annotated[Text | None, Query(max_length=200)] = None,
    group_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict:
    prefix = None if phone_prefix is None else "+" + phone_prefix.lstrip("+")
    total, items = await services.book.contacts(
        account.id,
        phone_prefix=prefix,
        name_contains=name_contains,
        group_id=group_id,
        limit=paging.limit,
        offset=paging.offset,
    )
    return page_of(items, page=paging.page, page_size=paging.page_size, total=total)


@router.post("/contacts/import", response_model=ContactImportOut, responses=responses(400, 404))
async def import_contacts(
    body: ContactImportIn, account: CurrentAccount, services: ServicesDep
) -> dict:
    """Create or update contacts by phone in one go. Rows with an invalid phone are reported
    by index in `errors`; the others are stored."""
    limit = services.ctx.config.api.max_recipients_per_request
    if len(body.contacts) > limit:
        raise RequestError(
            "too_many_recipients",
            f"{len(body.contacts)} contacts in one request; at most {limit}",
            {"given": len(body.contacts), "max": limit},
        )
    rows = [c.model_dump() for c in body.contacts]
    return await services.book.import_contacts(account.id, rows, body.group_id)


@router.get("/contacts/{contact_id:int}", response_model=ContactOut, responses=responses(404))
async def get_contact(
    contact_id: ContactId, account: CurrentAccount, services: ServicesDep
) -> dict:
    return await services.book.contact(account.id, contact_id)


@router.patch(
    "/contacts/{contact_id:int}", response_model=ContactOut, responses=responses(400, 404, 409)
)
async def update_contact(
    contact_id: ContactId, body: ContactPatch, account: CurrentAccount, services: ServicesDep
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return await services.book.update_contact(account.id, contact_id, changes)


@router.delete("/contacts/{contact_id:int}", status_code=204, responses=responses(404))
async def delete_contact(
    contact_id: ContactId, account: CurrentAccount, services: ServicesDep
) -> None:
    """Delete a contact; it leaves its groups and the campaigns that named it."""
    await services.book.delete_contact(account.id, contact_id)
