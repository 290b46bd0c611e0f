"""The operations routes every process serves: `/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.http_errors import error_response, error_responses
from shared.responses import JSONResponse


def ops_router(
    ready: Callable[[], Awaitable[dict[str, bool]]], describe: Callable[[], dict[str, Any]] | None = None
) -> APIRouter:
    """`/healthz` (the process is alive), `/readyz` (its dependencies answer; `describe` adds what the process is
    doing, e.g. whether a relay holds the lock), `/metrics` (Prometheus text)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses=error_responses(503))
    async def readyz() -> Response:
        checks = await ready()
        state = describe() if describe is not None else {}
        if all(checks.values()):
            return JSONResponse({"status": "ready", "checks": checks, **state})
        return error_response(
            503, "not_ready", "a dependency does not answer", {"checks": checks, **state}, headers={"Retry-After": "1"}
        )

    @router.get("/metrics", responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
