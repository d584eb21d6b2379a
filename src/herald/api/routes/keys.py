"""The calling account's API keys: list, create (the key is shown once), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from herald.api.deps import Account, CurrentAccount, PagingDep, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import MAX_ID, KeyCreated, KeyIn, KeyOut, Page, page_of
from herald.campaigns import keys as service
from herald.store import accounts as store
from herald.store.accounts import ApiKey

router = APIRouter(tags=["account"])


def _out(key: ApiKey, account: Account, now: datetime) -> dict:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "state": key.state(now),
        "current": key.id == account.key_id,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
    }


@router.get("/account/keys", response_model=Page[KeyOut], responses=responses())
async def list_keys(account: CurrentAccount, services: ServicesDep, paging: PagingDep) -> dict:
    """The account's API keys, revoked ones included, oldest first. Only prefixes are shown:
    herald keeps a hash of each key, never the key."""
    async with services.ctx.db.acquire() as conn:
        total, keys = await store.list_keys(
            conn, account.id, limit=paging.limit, offset=paging.offset
        )
    now = services.ctx.clock()
    return page_of(
        [_out(k, account, now) for k in keys],
        page=paging.page,
        page_size=paging.page_size,
        total=total,
    )


@router.post(
    "/account/keys", response_model=KeyCreated, status_code=201, responses=responses(400, 409)
)
async def create_key(body: KeyIn, account: CurrentAccount, services: ServicesDep) -> dict:
    """A new key for the account, shown in `api_key` this once. Give each key a name (one per
    system that uses it) and, if it should not live forever, an `expires_at`. To rotate a
    key: create its successor, move the system over, revoke the old one."""
    now = services.ctx.clock()
    async with services.ctx.db.acquire() as conn:
        created = await service.create_key(
            conn, account.id, body.name, now=now, expires_at=body.expires_at
        )
    return {**_out(created.key, account, now), "api_key": created.api_key}


@router.delete("/account/keys/{key_id:int}", response_model=KeyOut, responses=responses(404, 409))
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    account: CurrentAccount,
    services: ServicesDep,
    force: Annotated[bool, Query(description="revoke even the account's last working key")] = False,
) -> dict:
    """Revoke a key: from the next request on it answers 401, in every herald process. The
    account's last working key is kept unless `force=true` (`last_active_key`); revoking a
    revoked key changes nothing."""
    now = services.ctx.clock()
    async with services.ctx.db.acquire() as conn:
        key = await service.revoke_key(conn, account.id, key_id, now=now, force=force)
    return _out(key, account, now)
