"""The write API: `uvicorn write_api.main:create_app --factory --port 8001`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import parse_api_keys
from shared.logging import configure_logging
from shared.web import (
    NO_TELEMETRY,
    JSONResponse,
    error_response,
    freeze_startup_objects,
    install_error_handlers,
    install_metrics_middleware,
    ops_router,
)
from write_api.event_store.store import Appenders, PostgresEventStore, connect, create_pool
from write_api.handlers import StreamCache, StreamLocks
from write_api.routes import inventory, orders, products
from write_api.routes.fields import document_routes
from write_api.settings import WriteApiSettings

log = logging.getLogger(__name__)


class BodySizeLimit:
    """Refuse bodies over the limit with 413 before any route sees them, whether the size is declared
    (Content-Length) or only found out while reading (chunked). A declared size within the limit passes straight
    through (the HTTP server delivers exactly that many bytes); any other body (no Content-Length, or a
    Transfer-Encoding, which some servers let win over it) is read here, up to the limit, and handed on whole."""

    def __init__(self, app: ASGIApp, default_limit: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        declared = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
        if declared is not None and chunked is None and declared.isdigit():
            if int(declared) > limit:
                await self._refuse(limit, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(limit, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large", f"the request body exceeds {limit} bytes", {"limit": limit})
        await response(scope, receive, send)


def create_app(settings: WriteApiSettings | None = None) -> FastAPI:
    settings = settings or WriteApiSettings()
    configure_logging(settings.log_level)
    keyring = parse_api_keys(settings.api_keys, settings.environment)  # refuse bad keys before serving

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            pool = await create_pool(settings.database_url, settings.database_pool_min, settings.database_pool_max)
        except (OSError, asyncpg.PostgresError) as exc:
            # Serve anyway (readyz 503, commands 503 with Retry-After) and connect once PostgreSQL answers.
            log.warning("PostgreSQL does not answer at start (%s); connecting lazily", exc)
            pool = await create_pool(settings.database_url, 0, settings.database_pool_max)
        app.state.pool = pool
        appenders = Appenders(partial(connect, settings.database_url), settings.write_concurrency)
        app.state.store = store = PostgresEventStore(pool, appenders)
        app.state.keyring = keyring
        app.state.locks = StreamLocks()
        app.state.cache = StreamCache(settings.write_cache_streams)
        app.state.gate = asyncio.Semaphore(settings.write_concurrency)
        freeze_startup_objects()
        try:
            yield
        finally:
            await store.close()
            await pool.close()

    # Clients that forget `Content-Type: application/json` still send JSON; accept it.
    app = FastAPI(title="Write API", version="1", lifespan=lifespan, telemetry=NO_TELEMETRY, strict_content_type=False)

    async def ready() -> dict[str, bool]:
        try:
            await app.state.pool.fetchval("SELECT 1", timeout=2)
            return {"postgres": True}
        except Exception:  # noqa: BLE001 - any failure means not ready
            return {"postgres": False}

    async def on_database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return error_response(
            503, "unavailable", "the event store does not answer; retry shortly", headers={"Retry-After": "1"}
        )

    install_error_handlers(app)
    for unavailable in (
        OSError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
        TimeoutError,
    ):
        app.add_exception_handler(unavailable, on_database_unavailable)
    install_metrics_middleware(app)
    # Routes are matched in order, one regular expression each: the busiest first (no two paths overlap).
    app.router.routes.insert(0, orders.PLACE_ORDER)
    app.include_router(orders.router)
    app.include_router(inventory.router)
    app.include_router(products.router)
    app.include_router(ops_router(ready))
    limits: dict[str, Any] = {"/products/import": settings.import_max_bytes}
    app.add_middleware(BodySizeLimit, default_limit=settings.max_body_bytes, limits=limits)
    if origins := settings.allowed_origins():  # outermost, so that refusals (413, 401...) carry CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match"],
            expose_headers=["X-Position", "Retry-After"],
            max_age=600,
        )
    document_routes(app, {"/orders": orders.PLACE_ORDER_OPENAPI}, [orders.OrderIn])
    return app
