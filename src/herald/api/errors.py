"""Every error the API answers has one body shape:

    {"error": {"code": "<stable code>", "message": "<for a person>", "details": <or null>}}

`CODES` is the table of codes with their HTTP status (docs/api.md lists it too). Engine rules
raise herald.errors.RequestError with a code; FastAPI's own errors (validation, unknown
path, wrong method) and anything unexpected are answered in the same shape.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from herald.api.methods import AllowedMethods
from herald.errors import InsufficientBalanceError, NoRecipientsError, RequestError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Code:
    status: int
    meaning: str


CODES: dict[str, Code] = {
    "unauthorized": Code(
        401,
        "No `Authorization: Bearer <key>` header, or a key that is unknown, revoked or expired "
        "(the message says which).",
    ),
    "invalid_request": Code(
        422,
        "The body, query or path does not match the schema; `details` lists each "
        "problem with its `location` (e.g. `body.to.3`) and `message`.",
    ),
    "malformed_body": Code(
        400,
        "The body cannot be parsed: not JSON, not UTF-8, or a broken multipart form "
        "(`details.position`: where JSON parsing stopped).",
    ),
    "body_too_large": Code(
        413,
        "The body is larger than the limit (`details.max_bytes`: `api.max_body_bytes`, or "
        "`api.max_upload_bytes` for a file upload); nothing was read past it.",
    ),
    "unknown_parameter": Code(
        400,
        "A query parameter the endpoint does not take (`details.unknown`; `details.allowed` "
        "lists those it does).",
    ),
    "not_found": Code(404, "No such endpoint."),
    "method_not_allowed": Code(
        405, "The endpoint does not take this method; the `Allow` header lists those it takes."
    ),
    "key_not_found": Code(404, "No API key with that id in this account."),
    "key_name_conflict": Code(409, "The account has a live key of that name already."),
    "too_many_keys": Code(409, "The account has the most live keys it may have (`details.max`)."),
    "last_active_key": Code(
        409,
        "Revoking this key would leave the account without a working key; add `force=true` "
        "to do it anyway.",
    ),
    "invalid_expiry": Code(400, "`expires_at` is not in the future."),
    "campaign_not_found": Code(404, "No campaign with that id in this account."),
    "contact_not_found": Code(
        404, "A contact id is not one of this account's (`details.contact_ids`)."
    ),
    "group_not_found": Code(404, "A group id is not one of this account's (`details.group_ids`)."),
    "number_not_blacklisted": Code(404, "The number is not on the blacklist."),
    "campaign_not_scheduled": Code(
        409, "Only a scheduled campaign can be changed; `details.status` is its state."
    ),
    "campaign_running": Code(
        409, "A running or suspended campaign cannot be deleted: stop it first."
    ),
    "invalid_campaign_state": Code(
        409,
        "The campaign's state does not allow this action (`details.status`, `details.allowed`).",
    ),
    "name_conflict": Code(409, "The account already has a campaign (or group) of that name."),
    "phone_conflict": Code(409, "The account already has a contact with that phone."),
    "sender_conflict": Code(409, "The account already has that sender."),
    "insufficient_balance": Code(
        402,
        "The run needs more segments than the credit (`details.needed`, "
        "`details.available`); nothing was sent.",
    ),
    "no_recipients": Code(
        400, "Nobody to send to: none given, or every recipient is invalid or blacklisted."
    ),
    "invalid_numbers": Code(
        400,
        "Numbers that are not valid phone numbers (`details.invalid_numbers`: each with "
        "its index and reason).",
    ),
    "too_many_recipients": Code(
        400, "More than `details.max` numbers and recipients in one request."
    ),
    "malformed_template": Code(
        400, "The message template is malformed; `details.position` is the 0-based offset."
    ),
    "missing_label": Code(400, "Preview: the sample recipient lacks a label the template uses."),
    "invalid_label_value": Code(400, "Preview: a label value holds a forbidden character."),
    "too_many_parts": Code(400, "Preview: the message needs more than 255 parts."),
    "invalid_text": Code(400, "Preview: the text cannot be encoded."),
    "invalid_sender": Code(400, "The sender breaks a sender rule (the message names it)."),
    "sender_not_allowed": Code(400, "The sender is not one of this account's senders."),
    "invalid_schedule": Code(400, "`scheduled_at` is not in the future."),
    "invalid_reminder": Code(400, "A reminder needs `scheduled_at`."),
    "invalid_quiet_hours": Code(
        400, "A quiet window starts and ends at the same time (`details.index`)."
    ),
    "link_not_configured": Code(
        400,
        "The message places %Link% without a `track_link_url`, or %OptOutLink% without "
        "`opt_out_link: true` (`details.placeholder`, `details.setting`).",
    ),
    "opt_out_link_unplaced": Code(
        400, "`opt_out_link` is true but the message has no %OptOutLink% to place it."
    ),
    "invalid_file": Code(
        400,
        "The uploaded file cannot be read, or no row is usable (`details.errors`: "
        "row numbers and reasons).",
    ),
    "internal_error": Code(500, "A bug: the request may or may not have taken effect."),
}


class ErrorDetail(BaseModel):
    code: str = Field(examples=["campaign_not_found"])
    message: str = Field(examples=["no campaign with id 42"])
    details: Any = Field(default=None, examples=[{"campaign_id": 42}])


class ErrorBody(BaseModel):
    error: ErrorDetail


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route can answer."""
    described: dict[int | str, dict[str, Any]] = {}
    for status in sorted({400, 401, 422, *codes}):  # 400: unknown_parameter, anywhere
        names = sorted(n for n, c in CODES.items() if c.status == status)
        described[status] = {"model": ErrorBody, "description": "Error: " + ", ".join(names)}
    return described


def error_response(
    code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    status = CODES[code].status if code in CODES else 400
    body = {"error": {"code": code, "message": message, "details": details}}
    if code == "unauthorized":
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _request_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    return error_response(exc.code, str(exc), exc.details)


async def _insufficient_balance(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InsufficientBalanceError)
    return error_response(
        "insufficient_balance", str(exc), {"needed": exc.needed, "available": exc.available}
    )


async def _no_recipients(request: Request, exc: Exception) -> JSONResponse:
    return error_response("no_recipients", str(exc) or "nobody to send to", None)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    unparsable = [e for e in exc.errors() if e.get("type") == "json_invalid"]
    if unparsable:
        where = _location(unparsable[0].get("loc", ()))
        position = where.removeprefix("body.")
        return error_response(
            "malformed_body",
            f"the body is not valid JSON (at position {position}): "
            f"{unparsable[0].get('ctx', {}).get('error', 'JSON decode error')}",
            {"position": int(position) if position.isdigit() else None},
        )
    problems = [
        {
            "location": _location(e.get("loc", ())),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"location": "", "message": "invalid request"}
    message = f"{first['location']}: {first['message']}" if first["location"] else first["message"]
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return error_response("invalid_request", message, problems)


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` (herald/api/guard.py) when a body passes its limit. An
    HTTPException, so FastAPI's body parsing lets it through to the handlers here."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")
        self.limit = limit


_HTTP_CODES = {
    400: "malformed_body",  # FastAPI: "There was an error parsing the body"
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        if allowed is not None:
            if request.method == "OPTIONS":  # no CORS here: OPTIONS just says what the path takes
                return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
            headers["Allow"] = ", ".join(allowed)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if code == "malformed_body" and isinstance(exc.__cause__, UnicodeDecodeError):
        message = f"the body is not UTF-8 (at byte {exc.__cause__.start}); JSON must be UTF-8"
    details = {"max_bytes": exc.limit} if isinstance(exc, BodyTooLarge) else None
    response = error_response(code, message, details, headers=headers)
    response.status_code = exc.status_code
    return response


def allowed_methods(request: Request) -> list[str] | None:
    """The methods the OpenAPI document gives the request's path (None if it has none)."""
    app = request.app
    index = getattr(app.state, "allowed_methods", None)
    if index is None:
        index = app.state.allowed_methods = AllowedMethods(app.openapi().get("paths", {}))
    return index.for_path(request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response("internal_error", "internal error; see the herald log", None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(InsufficientBalanceError, _insufficient_balance)
    app.add_exception_handler(NoRecipientsError, _no_recipients)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
