"""The door of the API, an ASGI middleware in front of everything else.

1. A request under /v1 is authenticated from its headers alone, before one byte of its body is
   read: without a usable key it is answered 401 at once, whatever body it is sending.
2. Its body is limited: `api.max_body_bytes` for JSON, `api.max_upload_bytes` for the recipient
   file upload. A `Content-Length` over the limit is answered 413 without reading the body; a
   body without one (chunked) is counted as it arrives and cut off with 413 at the limit.

An answer given before the body is read leaves the rest of the body to the server, which
discards it as it arrives (uvicorn reads on, keeping nothing, so the connection can be
reused). Closing the connection at once instead would make the kernel reset it over the unread
data, and the client would see a reset, not the 401 or 413. An unauthenticated or oversized
request costs herald no memory for its body.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api.auth import Caller
from herald.api.errors import BodyTooLarge, error_response
from herald.errors import RequestError

PROTECTED_PREFIX = "/v1/"


@dataclass(frozen=True)
class BodyLimits:
    json: int
    upload: int
    upload_paths: Sequence[re.Pattern[str]] = ()

    @classmethod
    def build(cls, json: int, upload: int, upload_routes: Sequence[str]) -> BodyLimits:
        """`upload_routes`: path templates (`/v1/campaigns/{campaign_id}/...`) whose body is a
        file upload."""
        return cls(json, upload, tuple(compile_path(p)[0] for p in upload_routes))

    def for_path(self, path: str) -> int:
        return self.upload if any(p.match(path) for p in self.upload_paths) else self.json


Authenticate = Callable[[str | None], Awaitable[Caller]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # the server refuses a malformed Content-Length before we see it


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        limits: BodyLimits,
        answers_xml: Callable[[Scope], bool] = lambda scope: False,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.limits = limits
        self.answers_xml = answers_xml  # its refusals go in XML to whom prefers it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(PROTECTED_PREFIX) or path == PROTECTED_PREFIX.rstrip("/"):
            try:
                caller = await self.authenticate(_header(scope, b"authorization"))
            except RequestError as exc:
                await self._answer(scope, receive, send, exc.code, str(exc), exc.details)
                return
            scope.setdefault("state", {})["caller"] = caller
        limit = self.limits.for_path(path)
        length = _content_length(scope)
        if length is not None and length > limit:
            await self._answer(scope, receive, send, *_too_large(limit))
            return
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:  # a route that streams its answer while reading: nothing to fix now
                raise
            await self._answer(scope, receive, send, *_too_large(limit))

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        code: str,
        message: str,
        details: object = None,
    ) -> None:
        xml = self.answers_xml(scope)
        await error_response(code, message, details, xml=xml)(scope, receive, send)


def _too_large(limit: int) -> tuple[str, str, dict[str, int]]:
    return (
        "body_too_large",
        f"the request body is larger than the limit of {limit} bytes",
        {"max_bytes": limit},
    )
