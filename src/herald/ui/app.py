"""The console as an ASGI app of its own, mounted by herald.api.app at /ui.

Its own exception handlers answer people with pages (the API's answer programs with JSON),
its responses carry a strict Content-Security-Policy (only this server's scripts, styles and
images: the console loads nothing from the internet), and its static files are served from
the package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp

from herald.api.deps import Services
from herald.errors import RequestError
from herald.ui.console import (
    REFUSALS,
    Console,
    CsrfRefused,
    NotFound,
    SignInRequired,
    make_templates,
    refusal,
    root,
)
from herald.ui.insight import Insight
from herald.ui.routes import address_book, auth, campaigns, new_campaign, operations
from herald.ui.sessions import COOKIE, SessionCodec, load_secret
from herald.ui.summaries import Summaries

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MOUNT = "/ui"
# Bodies that may be a file: they get the API's upload limit (herald.api.guard).
UPLOAD_PATHS = (
    MOUNT + new_campaign.CREATE_PATH,
    MOUNT + new_campaign.ESTIMATE_PATH,
    MOUNT + address_book.CONTACTS_IMPORT_PATH,
)
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


class _Headers(BaseHTTPMiddleware):
    """Security headers on every answer; a bug answers a page here (and is logged), instead
    of reaching the API's handlers outside the console."""

    def __init__(self, app: ASGIApp, *, on_error: Callable[[Request], Response]) -> None:
        super().__init__(app)
        self._on_error = on_error

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        try:
            response = await call_next(request)
        except Exception:
            log.exception("console: %s %s failed", request.method, request.url.path)
            response = self._on_error(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith(root(request) + "/static/"):
            headers.setdefault("Cache-Control", "no-store")
        return response


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.endswith(
        ".json"
    )


def create_console(services: Services) -> FastAPI:
    config = services.ctx.config
    codec = SessionCodec(lambda: load_secret(config), timedelta(hours=config.ui.session_hours))
    summaries = Summaries(services.campaigns.summary)
    insight = Insight(services, summaries, clock=services.ctx.clock)
    ui = Console(services, codec, make_templates(), insight, summaries)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = ui
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, campaigns, new_campaign, address_book, operations):
        app.include_router(module.router)

    def error_page(request: Request, status: int, title: str, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": {"code": title, "message": message}}, status)
        session = getattr(request.state, "session", None)
        return ui.page(
            request,
            "error.html",
            {"title": title, "message": message},
            session=session,
            status=status,
        )

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        if _wants_json(request) or request.method != "GET":
            response: Response = JSONResponse(
                {"error": {"code": "unauthorized", "message": "sign in again"}}, 401
            )
        else:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            why = f"&why={exc.reason}" if exc.reason else ""
            response = RedirectResponse(
                f"{root(request)}/sign-in?next={_quote(target)}{why}", status_code=303
            )
        if exc.reason:  # a cookie that no longer works: drop it
            response.delete_cookie(COOKIE, path=MOUNT)
        return response

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return error_page(
            request,
            403,
            "Form expired",
            "This form was not sent from a current page of the console. Go back, reload the "
            "page and send it again.",
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: Exception) -> Response:
        return error_page(request, 404, "Not found", str(exc) or "There is nothing here.")

    async def refused(request: Request, exc: Exception) -> Response:
        exc = refusal(exc) or exc
        assert isinstance(exc, RequestError)
        status = 404 if exc.code.endswith("_not_found") else 409 if "state" in exc.code else 400
        return error_page(request, status, exc.code.replace("_", " ").capitalize(), str(exc))

    for kind in REFUSALS:
        app.add_exception_handler(kind, refused)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_page(request, 400, "Not understood", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_page(
            request,
            exc.status_code,
            "Not found" if exc.status_code == 404 else "Error",
            str(exc.detail),
        )

    def unexpected(request: Request) -> Response:
        return error_page(
            request, 500, "Something went wrong", "herald could not answer this page; see its log."
        )

    app.add_middleware(_Headers, on_error=unexpected)
    return app


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def mount_console(app: FastAPI, services: Services) -> ASGIApp:
    console_app = create_console(services)
    app.mount(MOUNT, console_app)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(MOUNT + "/", status_code=307)

    return console_app


__all__ = ["MOUNT", "UPLOAD_PATHS", "HTMLResponse", "mount_console"]
