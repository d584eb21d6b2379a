"""Dependencies shared by the routes: the calling account (found from its Bearer API key by
herald.api.guard), the services, paging, and the refusal of query parameters a route does
not take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from herald.api.auth import Caller
from herald.api.context import AppContext
from herald.campaigns.address_book import AddressBook
from herald.campaigns.exports import ExportService
from herald.campaigns.idempotency import KEY_PATTERN, Answer, Idempotency
from herald.campaigns.inbox import Inbox
from herald.campaigns.lifecycle import Lifecycle
from herald.campaigns.messages import MessageService
from herald.campaigns.recipients import RecipientListing
from herald.campaigns.reports import ReportService
from herald.campaigns.service import CampaignService
from herald.campaigns.visits import LinkVisits
from herald.errors import RequestError


@dataclass(frozen=True)
class Services:
    ctx: AppContext
    book: AddressBook
    lifecycle: Lifecycle
    campaigns: CampaignService
    messages: MessageService
    idempotency: Idempotency
    inbox: Inbox
    # campaign insight: links phones open, reports, exports, the audience before a run
    visits: LinkVisits
    reports: ReportService
    exports: ExportService
    recipients: RecipientListing

    @classmethod
    def build(cls, ctx: AppContext) -> Services:
        lifecycle = Lifecycle(
            ctx.db, clock=ctx.clock, runner=ctx.runner, wake=ctx.wake, metrics=ctx.metrics
        )
        return cls(
            ctx=ctx,
            book=AddressBook(ctx.db, ctx.config),
            lifecycle=lifecycle,
            campaigns=CampaignService(ctx.db, ctx.config, clock=ctx.clock, lifecycle=lifecycle),
            messages=MessageService(ctx.db, ctx.config, clock=ctx.clock, runner=ctx.runner),
            idempotency=Idempotency(
                ctx.db, clock=ctx.clock, ttl=timedelta(hours=ctx.config.api.idempotency_hours)
            ),
            inbox=Inbox(ctx.db, ctx.config),
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
    """The calling account, and the key the request used (its id and prefix)."""

    id: int
    name: str
    key_id: int
    key_prefix: str


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <API key>`; `herald account create NAME` prints a key, "
    "`POST /v1/account/keys` or `herald account keys create` make more.",
)


# The dependencies are `async def` though none awaits: FastAPI runs a plain `def` one in a
# worker thread, a hop to a thread and back for every request that uses it.


def app_services(request: Request) -> Services:
    """The app's services, for a route that reads them without the dependency."""
    built: Services = request.app.state.services  # set by create_app
    return built


async def services(request: Request) -> Services:
    return app_services(request)


async def current_account(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    # The key was checked by herald.api.guard before the body was read; `credentials` is here
    # so the OpenAPI document declares the scheme.
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, Caller):
        raise RequestError("unauthorized", "missing `Authorization: Bearer <API key>` header")
    return Account(
        id=caller.account_id,
        name=caller.account_name,
        key_id=caller.key_id,
        key_prefix=caller.key_prefix,
    )


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


async def paging(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=500, description="items per page")] = 50,
) -> Paging:
    return Paging(page, page_size)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Your key for this request (1 to 255 visible ASCII characters, e.g. a "
        "UUID): the same key with the same body within `api.idempotency_hours` (24 h) answers "
        "the first answer again (with `Idempotent-Replayed: true`) and sends nothing new; with "
        "another body it is refused (409 `idempotency_key_reused`). Keys are per account.",
    ),
]


def as_answered(model: type[BaseModel], data: Any) -> Any:
    """`data` as the route's response model would answer it (times in UTC with `Z`): what an
    Idempotency-Key stores, so a replay answers the same bytes as the first answer."""
    return model.model_validate(data).model_dump(mode="json", by_alias=True)


def answer_response(answer: Answer) -> JSONResponse:
    """The HTTP response of an answer, first or replayed (a replay says so in a header)."""
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


_QUERY_NAMES: dict[int, frozenset[str]] = {}  # id(route) -> its query parameters


async def known_query_only(request: Request) -> None:
    """400 `unknown_parameter` for a query parameter the route does not take: ignored, a
    misspelt filter (`/messages?phone=...`) would silently answer everything."""
    route: Any = request.scope.get("route")
    if route is None or not request.query_params:
        return
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        names = _QUERY_NAMES[id(route)] = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - names)
    if unknown:
        takes = ", ".join(sorted(names)) or "none"
        raise RequestError(
            "unknown_parameter",
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)}: {request.url.path} takes {takes}",
            {"unknown": unknown, "allowed": sorted(names)},
        )


CurrentAccount = Annotated[Account, Depends(current_account)]
ServicesDep = Annotated[Services, Depends(services)]
PagingDep = Annotated[Paging, Depends(paging)]
