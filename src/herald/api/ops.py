"""Operator endpoints, outside /v1 and without authentication: health, readiness, metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from herald.metrics import Metrics

Readiness = Callable[[], Awaitable[dict[str, object]]]
Liveness = Callable[[], dict[str, object]]


def ops_router(
    metrics: Metrics, readiness: Readiness, liveness: Liveness | None = None
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        """The process is alive and serving: 503 when `liveness` says it is not (the
        database has been unreachable too long); the body says why."""
        report = liveness() if liveness is not None else {"status": "ok"}
        return JSONResponse(report, status_code=200 if report.get("status") == "ok" else 503)

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready when the database answers and at least one bind is bound; the body says
        what is not."""
        report = await readiness()
        return JSONResponse(report, status_code=200 if report.get("ready") else 503)

    @router.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
