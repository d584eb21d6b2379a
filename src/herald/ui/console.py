"""What every console page needs: the services, sessions, templates; signing in is checked
here, and forms are checked against CSRF here.

A page handler asks for `SignedIn` (the session, its key checked) and, for a POST, `Form`
(the form, its CSRF token checked). Without a session a page redirects to the sign-in page
and a JSON endpoint answers 401; a form whose token does not match answers 403.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from herald.api.deps import Services
from herald.campaigns.keys import key_in_force
from herald.config import Config
from herald.errors import InsufficientBalanceError, NoRecipientsError, RequestError
from herald.metrics import Metrics
from herald.ui import formats
from herald.ui.insight import Insight
from herald.ui.sessions import COOKIE, Session, SessionCodec
from herald.ui.summaries import Summaries

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_FIELDS = 2000
MAX_FORM_FILES = 1


class SignInRequired(Exception):
    """No usable session: pages go to the sign-in page, JSON endpoints answer 401."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(Exception):
    """A POST whose CSRF token is missing or wrong."""


class NotFound(Exception):
    """Nothing of this account's at this address (another account's objects look the same)."""


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.filters.update(
        when=formats.when,
        number=formats.number,
        percent=formats.percent,
        ago=formats.ago,
        seconds=formats.seconds,
    )
    env.globals.update(status_words=formats.STATUS_WORDS)
    return templates


@dataclass(frozen=True)
class Console:
    services: Services
    codec: SessionCodec
    templates: Jinja2Templates
    insight: Insight
    summaries: Summaries

    @property
    def config(self) -> Config:
        return self.services.ctx.config

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.services.ctx.clock

    @property
    def metrics(self) -> Metrics:
        return self.services.ctx.metrics

    def page(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        session: Session | None,
        status: int = 200,
    ) -> HTMLResponse:
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "root": root(request),
                "session": session,
                "csrf": self.codec.csrf_token(session) if session else "",
                "refresh_ms": int(self.config.ui.refresh_seconds * 1000),
                **context,
            },
            status_code=status,
        )


def root(request: Request) -> str:
    """Where the console is mounted (/ui): links are written from it."""
    return str(request.scope.get("root_path", ""))


async def console(request: Request) -> Console:  # async: no worker thread (api/deps.py)
    found: Console = request.app.state.console  # set by herald.ui.app.create_console
    return found


ConsoleDep = Annotated[Console, Depends(console)]


async def signed_in(request: Request, ui: ConsoleDep) -> Session:
    session = ui.codec.decode(request.cookies.get(COOKIE), ui.clock())
    if session is None:
        raise SignInRequired("expired" if COOKIE in request.cookies else "")
    key = await key_in_force(ui.services.ctx.db, session.account_id, session.key_id, ui.clock())
    if key is None:
        raise SignInRequired("key")
    request.state.session = session  # error pages keep the navigation
    return session


SignedIn = Annotated[Session, Depends(signed_in)]


async def checked_form(request: Request, ui: ConsoleDep, session: SignedIn) -> FormData:
    """The POSTed form, once its CSRF token matches the session's."""
    form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    token = form.get("csrf")
    if not ui.codec.csrf_ok(session, token if isinstance(token, str) else None):
        raise CsrfRefused()
    return form


Form = Annotated[FormData, Depends(checked_form)]


def check_csrf_header(request: Request, ui: Console, session: Session) -> None:
    """JSON endpoints called by the page's script carry the token in X-CSRF-Token."""
    if not ui.codec.csrf_ok(session, request.headers.get("x-csrf-token")):
        raise CsrfRefused()


def see_other(request: Request, path: str, **query: object) -> Response:
    """303 to a console page (after a POST), with notice parameters."""
    shown = "&".join(f"{k}={quote(str(v))}" for k, v in query.items() if v is not None)
    return Response(
        status_code=303, headers={"Location": root(request) + path + ("?" + shown if shown else "")}
    )


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


REFUSALS = (RequestError, InsufficientBalanceError, NoRecipientsError)


def refusal(exc: BaseException) -> RequestError | None:
    """A rule the request broke, as a RequestError (what the API answers with its code); None
    for anything else (a bug, the database gone)."""
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, InsufficientBalanceError):
        return RequestError(
            "insufficient_balance", str(exc), {"needed": exc.needed, "available": exc.available}
        )
    if isinstance(exc, NoRecipientsError):
        return RequestError("no_recipients", str(exc) or "nobody to send to")
    return None
