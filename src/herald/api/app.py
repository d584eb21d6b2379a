"""The HTTP API: FastAPI under /v1, JSON with snake_case fields, OpenAPI at /openapi.json and
interactive docs at /docs. The daemon builds the AppContext and serves the app with uvicorn
inside its own event loop."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from herald import __version__
from herald.api.context import AppContext
from herald.api.deps import Services
from herald.api.errors import install_error_handlers
from herald.api.routes import (
    account,
    blacklist,
    campaigns,
    contacts,
    files,
    groups,
    insight,
    links,
    senders,
)

DESCRIPTION = """\
SMS campaigns over SMPP: senders, contacts and groups, campaigns with their lifecycle,
recipient files, per-message status, balance. Every request carries
`Authorization: Bearer <API key>` (`herald account create NAME` prints one). Every error has the
body `{"error": {"code": ..., "message": ..., "details": ...}}`.
"""


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(title="herald", version=__version__, description=DESCRIPTION)
    app.state.services = Services.build(ctx)
    install_error_handlers(app)
    v1 = APIRouter(prefix="/v1")
    for module in (account, senders, contacts, groups, blacklist, campaigns, files, insight):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(links.router)  # /l/ and /o/: the short links phones open
    return app
