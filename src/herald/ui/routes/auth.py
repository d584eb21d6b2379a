"""Signing in with an API key, and out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from herald.api.auth import Authenticator
from herald.errors import RequestError
from herald.ui.console import ConsoleDep, Form, SignedIn, root, text
from herald.ui.sessions import (
    COOKIE,
    SIGN_IN_COOKIE,
    new_sign_in_token,
    sign_in_token_ok,
)

router = APIRouter()

WHY = {
    "expired": "Your session has ended. Sign in again.",
    "key": "The API key this session was opened with no longer works (revoked or expired). "
    "Sign in with a current key.",
    "signed_out": "You are signed out.",
}
MAX_KEY_CHARS = 200


def _set_cookie(
    response: Response, request: Request, secure_always: bool, name: str, value: str, max_age: int
) -> None:
    """HttpOnly, SameSite=Strict, for the console's paths only; Secure on HTTPS (or always)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure_always or request.url.scheme == "https",
        path="/ui",
    )


def _safe_next(target: str | None, mount: str) -> str:
    """Where to go after signing in: a console page only (never another site)."""
    if not target:
        return mount + "/campaigns"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(mount + "/"):
        return mount + "/campaigns"
    if parts.path.startswith(mount + "/sign-"):
        return mount + "/campaigns"
    return parts.path + (f"?{parts.query}" if parts.query else "")


@router.get("/", include_in_schema=False)
async def home(request: Request) -> RedirectResponse:
    return RedirectResponse(root(request) + "/campaigns", status_code=303)


@router.get("/sign-in")
async def sign_in_page(
    request: Request,
    ui: ConsoleDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
    why: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _sign_in_form(request, ui, next=next, notice=WHY.get(why or ""), error=None)


def _sign_in_form(
    request: Request,
    ui: ConsoleDep,
    *,
    next: str | None,
    notice: str | None,
    error: str | None,
    status: int = 200,
) -> Response:
    token = new_sign_in_token()
    response = ui.page(
        request,
        "sign_in.html",
        {
            "next": _safe_next(next, root(request)),
            "notice": notice,
            "error": error,
            "sign_in_token": token,
        },
        session=None,
        status=status,
    )
    _set_cookie(response, request, ui.config.ui.secure_cookies, SIGN_IN_COOKIE, token, 3600)
    return response


@router.post("/sign-in")
async def sign_in(request: Request, ui: ConsoleDep) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    target = text(form, "next") or None
    if not sign_in_token_ok(request.cookies.get(SIGN_IN_COOKIE), text(form, "sign_in_token")):
        return _sign_in_form(
            request,
            ui,
            next=target,
            notice=None,
            error="The sign-in form had expired (or cookies are off for this site). Try again.",
            status=403,
        )
    key = text(form, "api_key")
    if not key or len(key) > MAX_KEY_CHARS:
        return _sign_in_form(
            request, ui, next=target, notice=None, error="Enter an API key.", status=400
        )
    try:
        caller = await Authenticator(ui.services.ctx.db, ui.clock)(f"Bearer {key}")
    except RequestError as exc:
        return _sign_in_form(request, ui, next=target, notice=None, error=f"{exc} ", status=401)
    session = ui.codec.start(
        account_id=caller.account_id,
        account_name=caller.account_name,
        key_id=caller.key_id,
        key_prefix=caller.key_prefix,
        now=ui.clock(),
    )
    response = RedirectResponse(_safe_next(target, root(request)), status_code=303)
    lifetime = int(ui.codec.lifetime.total_seconds())
    _set_cookie(
        response, request, ui.config.ui.secure_cookies, COOKIE, ui.codec.encode(session), lifetime
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/ui")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: SignedIn, form: Form) -> Response:
    response = RedirectResponse(f"{root(request)}/sign-in?why=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response
