"""The search API: `uvicorn search_api.main:create_app --factory --port 8002`. Reads Elasticsearch only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError as EsApiError
from fastapi import FastAPI, Request

from search_api.console import mount_console
from search_api.routes import inventory, order_export, orders, products, status
from search_api.settings import SearchApiSettings
from shared.api_docs import install_docs
from shared.app_tuning import NO_TELEMETRY, freeze_startup_objects
from shared.auth import parse_api_keys
from shared.elastic import elasticsearch_answers, elasticsearch_client
from shared.http_errors import error_response, install_error_handlers
from shared.logging import configure_logging
from shared.ops_routes import ops_router
from shared.request_metrics import install_metrics_middleware
from shared.responses import JSONResponse

log = logging.getLogger(__name__)


def create_app(settings: SearchApiSettings | None = None) -> FastAPI:
    settings = settings or SearchApiSettings()
    configure_logging(settings.log_level, settings.log_format)
    keyring = parse_api_keys(settings.api_keys, settings.environment)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        es = elasticsearch_client(
            settings.elasticsearch_url, settings.elasticsearch_timeout_s, settings.elasticsearch_connections
        )
        app.state.es = es
        app.state.settings = settings
        app.state.keyring = keyring
        freeze_startup_objects()
        try:
            yield
        finally:
            await es.close()

    app = FastAPI(
        title="Search API",
        version="1",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
        docs_url=None,  # install_docs: Swagger UI from the API itself, not a CDN
        redoc_url=None,
    )

    async def ready() -> dict[str, bool]:
        return {"elasticsearch": await elasticsearch_answers(app.state.es)}

    install_error_handlers(app)
    app.add_exception_handler(EsConnectionError, on_unavailable)
    app.add_exception_handler(ConnectionTimeout, on_unavailable)
    app.add_exception_handler(EsApiError, on_elasticsearch_error)
    install_metrics_middleware(app)
    app.include_router(ops_router(ready))
    app.include_router(products.router)
    app.include_router(inventory.router)
    app.include_router(order_export.router)  # before /orders/{order_id}, which would take "export" for an id
    app.include_router(orders.router)
    app.include_router(status.router)
    mount_console(app)
    install_docs(app, "Search API")
    return app


async def on_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("Elasticsearch unavailable: %s: %s", type(exc).__name__, exc)
    return error_response(
        503, "unavailable", "the search backend does not answer; retry shortly", headers={"Retry-After": "1"}
    )


async def on_elasticsearch_error(request: Request, exc: Exception) -> JSONResponse:
    """Elasticsearch answered, but could not serve: overloaded (429), a node or shards not (yet) available (5xx), or
    an index not created yet (a platform whose projector has not started): a 503 the client may retry. Anything else
    it refuses is a query this API should not have sent, a bug: 500, logged."""
    assert isinstance(exc, EsApiError)
    status = exc.meta.status
    if status == 429 or status >= 500 or (status == 404 and exc.error == "index_not_found_exception"):
        return await on_unavailable(request, exc)
    log.error("Elasticsearch refused a request (%s): %s", status, exc)
    return error_response(500, "internal_error", "an unexpected error occurred")
