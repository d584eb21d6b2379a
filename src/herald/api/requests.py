"""The outermost ASGI middleware: a request id, one log line and the metrics of each request.

- The request id is the client's `X-Request-ID` when it is a sane one (1-128 printable ASCII
  characters, no spaces), otherwise a new one; it is returned in the answer's `X-Request-ID`
  and carried by every log line the request causes (herald.logs.request_id).
- One INFO line per request on the `herald.api.requests` logger, once it is answered: method,
  path, status, duration in milliseconds, the account (when its key was accepted), the
  request id. Never the query string or a header: they may carry secrets. The probes of load
  balancers and Prometheus (/healthz, /readyz, /metrics) are logged at DEBUG.
- `herald_api_requests_total{route, method, status}` and
  `herald_api_request_duration_seconds{route, method}`, by the route's template
  (`/v1/campaigns/{campaign_id}`), never the path itself: the label sets stay bounded.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.logs import request_id
from herald.metrics import Metrics

log = logging.getLogger("herald.api.requests")

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[\x21-\x7e]{1,128}$")
UNMATCHED = "unmatched"  # the route label of a request no route took (404s, 405s)
PROBES = ("/healthz", "/readyz", "/metrics")  # asked every few seconds: logged at DEBUG


def _client_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == HEADER:
            return value.decode("ascii") if _SANE_ID.match(value) else None
    return None


def route_of(scope: Scope) -> str:
    """The template of the route that answered (`/v1/campaigns/{campaign_id}`). A route of an
    included router knows its template without the router's prefix: the prefix is what the
    request's path has before the route's part of it."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED
    params = {k: str(v) for k, v in scope.get("path_params", {}).items()}
    try:
        rendered = template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
    path: str = scope["path"]
    if rendered and path.endswith(rendered):
        return path[: len(path) - len(rendered)] + template
    return template


class RequestLog:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _client_id(scope) or uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500  # what the client gets when the app fails before answering
        started = time.perf_counter()
        header = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            method = scope["method"]
            self.metrics.api_request(route, method, status, seconds)
            if self.log_requests:
                caller = scope.get("state", {}).get("caller")
                probe = scope["path"].startswith(PROBES)
                log.log(
                    logging.DEBUG if probe else logging.INFO,
                    "%s %s %d %.1f ms",
                    method,
                    scope["path"],
                    status,
                    seconds * 1000,
                    extra={
                        "fields": {
                            "method": method,
                            "path": scope["path"],
                            "route": route,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 2),
                            "account_id": getattr(caller, "account_id", None),
                            "request_id": rid,
                        }
                    },
                )
            request_id.reset(token)
