"""The HTTP hook of `herald simulate --control-port`: drive a running simulator from outside
its process (a daemon's end-to-end tests, a person trying replies by hand).

    POST /mo     {"from": "306948530920", "to": "Herald", "text": "STOP",
                  "system_id": "herald", "concat": "udh8", "wait": true, "timeout": 10}
                 -> 200 {"parts": 1, "statuses": [0]}        (each part's deliver_sm_resp)
                 -> 202 {"parts": 1, "statuses": null}       ("wait": false: queued)
                 -> 504 when no receiver answered in time (the parts stay queued)
    GET  /stats  -> the counters, as `herald simulate` prints them when it stops

It listens on the simulator's host only; bodies are JSON, at most 64 KiB.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from herald.text.segment import CONCAT_METHODS

if TYPE_CHECKING:
    from herald.simulator.server import Simulator

MAX_BODY = 64 * 1024
_FIELDS = {"from", "to", "text", "system_id", "concat", "wait", "timeout"}


class _Refused(ValueError):
    pass


def _mo_request(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Refused("the body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise _Refused(f"unknown field(s): {', '.join(unknown)}")
    for name, most in (("from", 21), ("to", 21), ("text", 10_000)):
        value = body.get(name)
        if not isinstance(value, str) or not value or len(value) > most:
            raise _Refused(f"`{name}` must be a text of 1 to {most} characters")
    system_id = body.get("system_id")
    if system_id is not None and (not isinstance(system_id, str) or len(system_id) > 15):
        raise _Refused("`system_id` must be a text of at most 15 characters")
    concat = body.get("concat", "udh8")
    if concat not in ("udh8", "udh16", "sar") or concat not in CONCAT_METHODS:
        raise _Refused("`concat` must be udh8, udh16 or sar")
    wait = body.get("wait", True)
    timeout = body.get("timeout", 10)
    if not isinstance(wait, bool):
        raise _Refused("`wait` must be true or false")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise _Refused("`timeout` must be a number of seconds, more than 0 and at most 60")
    return {
        "source": body["from"],
        "destination": body["to"],
        "text": body["text"],
        "system_id": system_id,
        "concat": concat,
        "wait": wait,
        "timeout": float(timeout),
    }


async def _json_body(request: Request) -> Any:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _Refused(f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks) or b"null")
    except ValueError as exc:
        raise _Refused(f"the body is not JSON: {exc}") from None


def control_app(simulator: Simulator) -> Starlette:
    async def mo(request: Request) -> JSONResponse:
        try:
            spec = _mo_request(await _json_body(request))
        except _Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        futures = simulator.queue_mo(
            spec["source"],
            spec["destination"],
            spec["text"],
            system_id=spec["system_id"],
            concat=spec["concat"],
        )
        if not spec["wait"]:
            return JSONResponse({"parts": len(futures), "statuses": None}, status_code=202)
        try:
            async with asyncio.timeout(spec["timeout"]):
                statuses = [await asyncio.shield(f) for f in futures]
        except TimeoutError:
            return JSONResponse(
                {
                    "error": f"no deliver_sm_resp within {spec['timeout']:g} s (is a receiver "
                    "bound?); the parts stay queued",
                    "parts": len(futures),
                },
                status_code=504,
            )
        return JSONResponse({"parts": len(futures), "statuses": statuses})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(simulator.stats.as_dict())

    return Starlette(routes=[Route("/mo", mo, methods=["POST"]), Route("/stats", stats)])
