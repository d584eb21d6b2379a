"""The HTTP API: FastAPI under /v1, JSON with snake_case fields, OpenAPI at /openapi.json and
interactive docs at /docs. The daemon builds the AppContext and serves the app with uvicorn
inside its own event loop."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from herald import __version__
from herald.api.auth import Authenticator
from herald.api.context import AppContext
from herald.api.deps import Services, known_query_only
from herald.api.errors import install_error_handlers
from herald.api.guard import BodyLimits, RequestGuard
from herald.api.routes import (
    account,
    blacklist,
    campaigns,
    contacts,
    files,
    groups,
    insight,
    keys,
    links,
    senders,
)

V1 = "/v1"

DESCRIPTION = """\
SMS campaigns over SMPP: senders, contacts and groups, campaigns with their lifecycle,
recipient files, per-message status, balance, API keys. Every request carries
`Authorization: Bearer <API key>` (`herald account create NAME` prints one); it is checked
before the body is read. JSON bodies are limited to `api.max_body_bytes` (8 MiB by default) and
file uploads to `api.max_upload_bytes` (50 MiB): larger ones answer 413. Every error has the
body `{"error": {"code": ..., "message": ..., "details": ...}}`.
"""


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(title="herald", version=__version__, description=DESCRIPTION)
    app.state.services = Services.build(ctx)
    install_error_handlers(app)
    v1 = APIRouter(prefix=V1, dependencies=[Depends(known_query_only)])
    for module in (account, keys, senders, contacts, groups, blacklist, campaigns, files, insight):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(links.router)  # /l/ and /o/: the short links phones open
    limits = BodyLimits.build(
        json=ctx.config.api.max_body_bytes,
        upload=ctx.config.api.max_upload_bytes,
        upload_routes=[V1 + files.UPLOAD_PATH],
    )
    app.add_middleware(RequestGuard, authenticate=Authenticator(ctx.db, ctx.clock), limits=limits)
    _document_body_errors(app)
    return app


def _document_body_errors(app: FastAPI) -> None:
    """Every operation that takes a body may also answer 400 `malformed_body` (not JSON, not
    UTF-8, a broken form) and 413 `body_too_large`: say so in the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                if "requestBody" not in operation:
                    continue
                answers = operation.setdefault("responses", {})
                for status, code in (("400", "malformed_body"), ("413", "body_too_large")):
                    answers.setdefault(status, _error_answer(code))
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _error_answer(code: str) -> dict[str, Any]:
    return {
        "description": f"Error: {code}",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
