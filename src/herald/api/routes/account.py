"""The calling account and its balance."""

from __future__ import annotations

from fastapi import APIRouter

from herald.api.deps import CurrentAccount, ServicesDep
from herald.api.errors import responses
from herald.api.schemas import AccountOut, BalanceOut
from herald.errors import RequestError
from herald.store import balance as store

router = APIRouter(tags=["account"])

RECENT_BATCHES = 20


@router.get("/account", response_model=AccountOut, responses=responses())
async def get_account(account: CurrentAccount, services: ServicesDep) -> dict:
    """The account the API key belongs to."""
    async with services.ctx.db.acquire() as conn:
        row = await store.account_by_name(conn, account.name)
    if row is None:  # deleted since its key was checked
        raise RequestError("unauthorized", "unknown API key")
    return {**dict(row), "api_key_prefix": account.key_prefix}


@router.get("/balance", response_model=BalanceOut, responses=responses())
async def get_balance(account: CurrentAccount, services: ServicesDep) -> dict:
    """Credit left, in segments, and what the latest runs used. A run the credit cannot
    cover fails with `insufficient_balance` before anything is sent."""
    async with services.ctx.db.acquire() as conn:
        balance = await store.balance(conn, account.id)
        batches = await store.recent_batches(conn, account.id, RECENT_BATCHES)
    if balance is None:  # deleted since its key was checked
        raise RequestError("unauthorized", "unknown API key")
    return {
        "credit": balance["credit"],
        "credit_used_total": balance["credit_used_total"],
        "recent_batches": [{**dict(b), "batch_id": b["id"]} for b in batches],
    }
