"""The short links phones open: `/l/{code}` redirects (and counts a click), `/o/{code}` is
the opt-out page. Outside /v1 and without a key: the code is the credential. Answers are
small pages for a person, not JSON, with no external asset, no referrer and no caching (each
click reaches herald).

GET and HEAD of `/o/{code}` only show the page; only its form's POST opts out, so a link
preview or a mail scanner that fetches the link changes nothing. HEAD of `/l/{code}` answers
the redirect without counting a click.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from herald.api.deps import app_services
from herald.errors import LinkUnavailableError

router = APIRouter(include_in_schema=False)

FORM_MAX_BYTES = 1024  # the page's form sends a dozen bytes
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
_PAGE_HEADERS = {
    **_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:2rem 1rem;color:#222}"
    "main{max-width:28rem;margin:auto}h1{font-size:1.4rem}"
    "button{font-size:1.1rem;padding:.6rem 1.4rem;border-radius:.4rem;border:0;"
    "background:#b3261e;color:#fff}"
)


@router.api_route("/l/{code}", methods=["GET", "HEAD"])
async def follow_link(code: str, request: Request) -> Response:
    visits = app_services(request).visits
    try:
        if request.method == "HEAD":
            target = await visits.target(code)
        else:
            target = await visits.click(code, request.headers.get("user-agent"))
    except LinkUnavailableError as exc:
        return _unavailable(exc)
    return RedirectResponse(target, status_code=302, headers=_HEADERS)


@router.api_route("/o/{code}", methods=["GET", "HEAD"])
async def opt_out_page(code: str, request: Request) -> Response:
    try:
        page = await app_services(request).visits.opt_out_page(code)
    except LinkUnavailableError as exc:
        return _unavailable(exc)
    sender = html.escape(page.sender)
    if page.done:
        return _done(sender, page.phone)
    return _page(
        f"Stop messages from {sender}?",
        f"<p>{html.escape(page.phone)} will get no more messages from {sender}.</p>"
        '<form method="post"><input type="hidden" name="confirm" value="yes">'
        '<button type="submit">Stop messages</button></form>',
    )


@router.post("/o/{code}")
async def confirm_opt_out(code: str, request: Request) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            return _page("Not understood", "<p>That is not this page's form.</p>", 413)
    form = parse_qs(body.decode("latin-1"))
    if form.get("confirm") != ["yes"]:
        return _page(
            "Not confirmed",
            "<p>Nothing changed: open the link again and press the button.</p>",
            400,
        )
    try:
        page = await app_services(request).visits.opt_out(code, request.headers.get("user-agent"))
    except LinkUnavailableError as exc:
        return _unavailable(exc)
    return _done(html.escape(page.sender), page.phone)


def _done(sender: str, phone: str) -> Response:
    return _page(
        "You will get no more messages",
        f"<p>{html.escape(phone)} will get no more messages from {sender}.</p>",
    )


def _unavailable(exc: LinkUnavailableError) -> Response:
    if exc.expired:
        return _page("This link has expired", "<p>It is no longer in use.</p>", 410)
    return _page("No such link", "<p>Check that the link is complete.</p>", 404)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{title}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(text, status_code=status, headers=_PAGE_HEADERS)
