"""HTTP plumbing both APIs share: the error envelope, request metrics, operations routes and API-key checks."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as StarletteJSONResponse
from fastapi.security import HTTPBearer
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import KeyRing, Role, allowed
from shared.metrics import child

log = logging.getLogger(__name__)


class JSONResponse(StarletteJSONResponse):
    """A JSON answer encoded by orjson (compact UTF-8, like Starlette's, at a fraction of the standard json's CPU)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class ApiError(Exception):
    """An error with its HTTP status and a stable snake_case code, rendered as the contract's error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": dict(details or {})}}
    return JSONResponse(status_code=status, content=body, headers=dict(headers or {}))


_STATUS_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields: dict[str, str] = {}
        malformed = False
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                malformed = True
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
            fields[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
        if malformed:
            return error_response(400, "malformed_request", "the request body is not valid JSON", {"fields": fields})
        return error_response(422, "validation_failed", "the request has invalid fields", {"fields": fields})

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


# FastAPI's native OpenTelemetry support asks the global OpenTelemetry providers on every request whether any is
# configured (a few environment lookups each time). The platform exports Prometheus metrics and ships no
# OpenTelemetry SDK, so the apps turn it off.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def freeze_startup_objects() -> None:
    """Moves everything alive once a server has started (modules, routes, models, clients) out of the garbage
    collector's reach. A full collection otherwise walks all of it again: 54 ms in the search API under load, a pause
    every request in flight waits out. Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


class RequestMetrics:
    """Request count and latency per route template, as plain ASGI middleware (no per-request task or copy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            child(LATENCY, scope["method"], path).observe(time.perf_counter() - started)
            child(REQUESTS, scope["method"], path, str(status)).inc()


def install_metrics_middleware(app: FastAPI) -> None:
    app.add_middleware(RequestMetrics)


def ops_router(
    ready: Callable[[], Awaitable[dict[str, bool]]], describe: Callable[[], dict[str, Any]] | None = None
) -> APIRouter:
    """`/healthz` (the process is alive), `/readyz` (its dependencies answer; `describe` adds what the process is
    doing, e.g. whether a relay holds the lock), `/metrics` (Prometheus text)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> Response:
        checks = await ready()
        state = describe() if describe is not None else {}
        if all(checks.values()):
            return JSONResponse({"status": "ready", "checks": checks, **state})
        return error_response(
            503, "not_ready", "a dependency does not answer", {"checks": checks, **state}, headers={"Retry-After": "1"}
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


BEARER_SCHEME = "ApiKey"  # the OpenAPI security scheme of the API keys


class RoleKey(HTTPBearer):
    """The caller's role from its bearer API key, or 401/403; the key ring lives in `app.state.keyring`.

    A security dependency that reads the header itself: OpenAPI shows the bearer scheme on every route that needs
    it, and FastAPI has no header parameter to validate per request (a measurable share of a write's CPU)."""

    def __init__(self, roles: frozenset[Role]) -> None:
        description = "API key: Authorization: Bearer <key>"
        super().__init__(scheme_name=BEARER_SCHEME, description=description, auto_error=False)
        self.roles = roles

    async def __call__(self, request: Request) -> Role:  # type: ignore[override]
        return caller_role(request, self.roles)


def require_role(*roles: Role) -> Any:
    """A dependency that answers the caller's role, or 401/403."""
    return Depends(RoleKey(frozenset(roles)))


def caller_role(request: Request, roles: frozenset[Role]) -> Role:
    """What require_role answers, also for a route that checks inline: solving even a dependency without parameters
    costs FastAPI some 60 µs of CPU per request, a few percent of an order. Put BEARER_OPENAPI in its OpenAPI entry.
    The key ring lives in `app.state.keyring`."""
    keyring: KeyRing = request.app.state.keyring
    return authorize(keyring, request.headers.get("authorization"), roles)


# The security requirement RoleKey puts into OpenAPI, for routes that call caller_role.
BEARER_OPENAPI: dict[str, Any] = {"security": [{BEARER_SCHEME: []}]}


def authorize(keyring: KeyRing, authorization: str | None, required: frozenset[Role]) -> Role:
    """Role of the bearer key, or 401 (no or unknown key) / 403 (a key whose role may not do this)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = keyring.role_for(authorization[7:].strip())
    if role is None:
        raise ApiError(401, "unauthorized", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    if not allowed(role, required):
        raise ApiError(
            403, "forbidden", f"role {role.value} may not do this", {"required": sorted(r.value for r in required)}
        )
    return role


async def elasticsearch_answers(es: object) -> bool:
    """Readiness probe. Not `ping()` (HEAD /): the integ-test distribution has no root endpoint."""
    try:
        health = await es.cluster.health(timeout="2s")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
    return health.get("status") in ("green", "yellow")
