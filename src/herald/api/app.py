"""The HTTP API: FastAPI under /v1, JSON with snake_case fields, OpenAPI at /openapi.json and
interactive docs at /docs. The daemon builds the AppContext and serves the app with uvicorn
inside its own event loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi.routing
from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from herald import __version__
from herald.api.auth import Authenticator
from herald.api.context import AppContext
from herald.api.deps import Services, known_query_only
from herald.api.errors import error_response, install_error_handlers
from herald.api.guard import BodyLimits, RequestGuard
from herald.api.routes import (
    account,
    blacklist,
    campaigns,
    contacts,
    files,
    groups,
    inbound,
    insight,
    keys,
    links,
    messages,
    senders,
)
from herald.api.xml import XmlLimits, XmlNegotiation, XmlRoute, XmlRoutes

V1 = "/v1"
# Swagger UI's files, vendored into the package (herald/ui/static/swagger/VERSION.txt): /docs
# loads nothing from the internet, so it works offline.
SWAGGER_FILES = Path(__file__).resolve().parent.parent / "ui" / "static" / "swagger"
DOCS_ASSETS = "/docs/assets"

DESCRIPTION = """\
SMS campaigns over SMPP: senders, contacts and groups, campaigns with their lifecycle,
recipient files, messages one by one, per-message status, replies, balance, API keys. POSTs
that send take an `Idempotency-Key` header, so a retried request never sends twice. Every
request carries `Authorization: Bearer <API key>` (`herald account create NAME` prints one); it
is checked before the body is read. JSON bodies are limited to `api.max_body_bytes` (8 MiB by
default) and file uploads to `api.max_upload_bytes` (50 MiB): larger ones answer 413. Every
error has the body `{"error": {"code": ..., "message": ..., "details": ...}}`.
"""


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="herald", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None
    )
    services = app.state.services = Services.build(ctx)
    install_error_handlers(app)
    v1 = APIRouter(prefix=V1, dependencies=[Depends(known_query_only)])
    for module in (
        account,
        keys,
        senders,
        contacts,
        groups,
        blacklist,
        campaigns,
        files,
        insight,
        messages,
        inbound,
    ):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(links.router)  # /l/ and /o/: the short links phones open
    _serve_docs(app)
    upload_routes = [V1 + files.UPLOAD_PATH]
    if ctx.config.ui.enabled:
        from herald.ui.app import UPLOAD_PATHS, mount_console

        mount_console(app, services)
        upload_routes += UPLOAD_PATHS
    limits = BodyLimits.build(
        json=ctx.config.api.max_body_bytes,
        upload=ctx.config.api.max_upload_bytes,
        upload_routes=upload_routes,
    )
    # Inside the guard (added after it, so it wraps it): the key is checked and the body
    # limited before an XML body is read.
    xml_routes = XmlRoutes(XML_ROUTES)
    app.add_middleware(
        XmlNegotiation,
        routes=xml_routes,
        limits=XmlLimits(ctx.config.api.max_xml_elements, ctx.config.api.max_xml_depth),
        openapi=app.openapi,
        refuse=_malformed_xml,
    )
    app.add_middleware(
        RequestGuard,
        authenticate=Authenticator(ctx.db, ctx.clock),
        limits=limits,
        answers_xml=xml_routes.wants_xml,
    )
    _document_body_errors(app)
    return app


# Where the campaign APIs herald follows speak XML (herald/api/xml.py): create, run, read.
XML_ROUTES = (
    XmlRoute("POST", V1 + "/campaigns", "campaign"),
    XmlRoute("POST", V1 + "/campaigns/{campaign_id}/run", "run"),
    XmlRoute("GET", V1 + "/campaigns/{campaign_id}", "campaign"),
)


def _malformed_xml(message: str, xml: bool) -> Any:
    return error_response("malformed_body", message, None, xml=xml)


def _serve_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from the package's own copy, not from a CDN."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_FILES), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="herald API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            # No badge from the public validator service: nothing leaves this server.
            swagger_ui_parameters={"validatorUrl": None},
        )


def build_route_state(app: FastAPI) -> int:
    """Build now, at the start, what FastAPI otherwise builds at the first request that
    reaches each included router: every route's dependants and validation adapters. The first
    POST /v1/campaigns of a fresh process took 97-139 ms for it, on the way to the campaign's
    first submit_sm; the whole API's takes about 70 ms here, once. The console, an app
    mounted on its own, still builds its routes' at its first pages. Returns how many routes
    were walked. The walk is FastAPI's own (`fastapi.routing.iter_route_contexts`, which its
    OpenAPI generation uses too); a FastAPI without it walks nothing, and the first requests
    pay as before."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    if walk is None:
        return 0
    return sum(1 for _ in walk(app.routes))


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
        for route in XML_ROUTES:
            _speaks_xml(spec["paths"][route.path][route.method.lower()])
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _speaks_xml(operation: dict[str, Any]) -> None:
    """Say that an XML route takes and answers application/xml too, in the JSON's shape."""
    contents = [operation.get("requestBody", {}).get("content", {})]
    contents += [answer.get("content", {}) for answer in operation.get("responses", {}).values()]
    for content in contents:
        if "application/json" in content:
            content["application/xml"] = dict(content["application/json"])


def _error_answer(code: str) -> dict[str, Any]:
    return {
        "description": f"Error: {code}",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
