"""Operator endpoints, outside /v1 and without authentication: liveness, readiness, the
carrier links, metrics. Served on the API's port, and on the metrics port when there is one
(`/metrics` then only there)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from herald.metrics import Metrics

Readiness = Callable[[], Awaitable[dict[str, object]]]
Liveness = Callable[[], dict[str, object]]
Binds = Callable[[], dict[str, object]]


def ops_router(
    metrics: Metrics | None,
    readiness: Readiness,
    liveness: Liveness | None = None,
    binds: Binds | None = None,
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
        """Ready to take requests: the database answers, its schema is current and herald is
        not stopping. Carrier links are /healthz/binds' business, not a load balancer's."""
        report = await readiness()
        return JSONResponse(report, status_code=200 if report.get("ready") else 503)

    if binds is not None:

        @router.get("/healthz/binds")
        async def healthz_binds() -> JSONResponse:
            """Every bind's state and this process's share of each carrier account: 200 while
            at least one bind is bound (`ok` or `degraded`), 503 when none is (`down`)."""
            report = binds()
            return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)

    if metrics is not None:
        exposition = metrics.exposition

        @router.get("/metrics")
        async def prometheus() -> Response:
            return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
