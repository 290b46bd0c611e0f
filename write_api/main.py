"""The write API: `uvicorn write_api.main:create_app --factory --port 8001`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware

from shared.api_docs import install_docs
from shared.app_tuning import NO_TELEMETRY, freeze_startup_objects
from shared.auth import parse_api_keys
from shared.http_errors import error_response, install_error_handlers
from shared.logging import configure_logging
from shared.ops_routes import ops_router
from shared.request_metrics import install_metrics_middleware
from shared.responses import JSONResponse
from write_api.body_size import BodySizeLimit
from write_api.event_store.connections import ConnectionPool
from write_api.event_store.store import PostgresEventStore, connect
from write_api.routes import inventory, orders, products
from write_api.routes.command_route import add_command_routes
from write_api.service_layer.stream_cache import StreamCache
from write_api.service_layer.stream_locks import StreamLocks
from write_api.settings import WriteApiSettings

log = logging.getLogger(__name__)

# What the driver raises when PostgreSQL does not answer, or is going away or coming back: commands get 503 with
# Retry-After. The server's "operator intervention" class (57xxx) is what a backend says as it goes: 57P01 (shutdown,
# and "unexpected postmaster exit" after a kill -9 of the server), 57P02 (another backend crashed), 57P03 (starting
# up); 53xxx is a server out of resources (connections, memory, disk). Before 57P01 and 57P02 were here, a command
# that met a connection of the pool as the server went answered 500.
DATABASE_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    TimeoutError,
)


def create_app(settings: WriteApiSettings | None = None) -> FastAPI:
    settings = settings or WriteApiSettings()
    configure_logging(settings.log_level, settings.log_format)
    keyring = parse_api_keys(settings.api_keys, settings.environment)  # refuse bad keys before serving

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections = ConnectionPool(partial(connect, settings.database_url), settings.database_pool_max)
        try:
            await connections.open(settings.database_pool_min)
        except (OSError, asyncpg.PostgresError) as exc:
            # Serve anyway (readyz 503, commands 503 with Retry-After) and connect once PostgreSQL answers.
            log.warning("PostgreSQL does not answer at start (%s); connecting lazily", exc)
        app.state.connections = connections
        app.state.store = PostgresEventStore(connections)
        app.state.keyring = keyring
        app.state.locks = StreamLocks()
        app.state.cache = StreamCache(settings.write_cache_streams)
        app.state.gate = asyncio.Semaphore(settings.write_concurrency)
        freeze_startup_objects()
        try:
            yield
        finally:
            await connections.close()

    # Clients that forget `Content-Type: application/json` still send JSON; accept it.
    app = FastAPI(
        title="Write API",
        version="1",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
        strict_content_type=False,
        docs_url=None,  # install_docs: Swagger UI from the API itself, not a CDN
        redoc_url=None,
    )

    async def ready() -> dict[str, bool]:
        try:
            async with asyncio.timeout(2):
                await app.state.connections.fetchval("SELECT 1")
            return {"postgres": True}
        except Exception:  # noqa: BLE001 - any failure means not ready
            return {"postgres": False}

    install_error_handlers(app)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, on_database_unavailable)
    install_metrics_middleware(app)
    app.include_router(ops_router(ready))
    # Routes are matched in order, one regular expression each: the commands first, the busiest (POST /orders) first
    # of all, then the operations and documentation routes.
    add_command_routes(app, orders.ROUTES + inventory.ROUTES + products.ROUTES)
    install_docs(app, "Write API")
    limits = {"/products/import": settings.import_max_bytes}
    app.add_middleware(BodySizeLimit, default_limit=settings.max_body_bytes, limits=limits)
    allow_console(app, settings)
    return app


async def on_database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return error_response(
        503, "unavailable", "the event store does not answer; retry shortly", headers={"Retry-After": "1"}
    )


def allow_console(app: FastAPI, settings: WriteApiSettings) -> None:
    """CORS for the origins that may send commands from a browser (the console's), when there are any: the
    outermost layer, so that refusals (413, 401...) carry CORS headers too."""
    if origins := settings.allowed_origins():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Correlation-Id"],
            expose_headers=["X-Position", "X-Correlation-Id", "Retry-After"],
            max_age=600,
        )
