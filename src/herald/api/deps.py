"""Dependencies shared by the routes: the calling account (Bearer API key), the services,
paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from herald.api.context import AppContext
from herald.campaigns.address_book import AddressBook
from herald.campaigns.exports import ExportService
from herald.campaigns.lifecycle import Lifecycle
from herald.campaigns.recipients import RecipientListing
from herald.campaigns.reports import ReportService
from herald.campaigns.service import CampaignService
from herald.campaigns.visits import LinkVisits
from herald.errors import RequestError
from herald.store.accounts import account_for_key


@dataclass(frozen=True)
class Services:
    ctx: AppContext
    book: AddressBook
    lifecycle: Lifecycle
    campaigns: CampaignService
    # campaign insight: links phones open, reports, exports, the audience before a run
    visits: LinkVisits
    reports: ReportService
    exports: ExportService
    recipients: RecipientListing

    @classmethod
    def build(cls, ctx: AppContext) -> Services:
        lifecycle = Lifecycle(ctx.db, clock=ctx.clock, runner=ctx.runner, wake=ctx.wake)
        return cls(
            ctx=ctx,
            book=AddressBook(ctx.db, ctx.config),
            lifecycle=lifecycle,
            campaigns=CampaignService(ctx.db, ctx.config, clock=ctx.clock, lifecycle=lifecycle),
            visits=LinkVisits(
                ctx.db,
                ttl_days=ctx.config.links.ttl_days,
                clock=ctx.clock,
                metrics=ctx.metrics,
                clicks=ctx.clicks,
            ),
            reports=ReportService(ctx.db, clock=ctx.clock),
            exports=ExportService(ctx.db),
            recipients=RecipientListing(ctx.db, ctx.config),
        )


@dataclass(frozen=True)
class Account:
    id: int
    name: str


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <API key>`; `herald account create NAME` prints a key.",
)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def current_account(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    if credentials is None:
        raise RequestError("unauthorized", "missing `Authorization: Bearer <API key>` header")
    async with services(request).ctx.db.acquire() as conn:
        row = await account_for_key(conn, credentials.credentials)
    if row is None:
        raise RequestError("unauthorized", "unknown API key")
    return Account(id=row["id"], name=row["name"])


@dataclass(frozen=True)
class Paging:
    page: int
    page_size: int

    @property
    def limit(self) -> int:
        return self.page_size

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def paging(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=500, description="items per page")] = 50,
) -> Paging:
    return Paging(page, page_size)


CurrentAccount = Annotated[Account, Depends(current_account)]
ServicesDep = Annotated[Services, Depends(services)]
PagingDep = Annotated[Paging, Depends(paging)]
