"""Request count and latency per route template, for both APIs (Prometheus)."""

from __future__ import annotations

import functools
import time
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@functools.cache
def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, made once per label set: `labels()` takes a lock and builds a key on every call, on
    a path that runs for every request. Route templates, methods and statuses are few."""
    return metric.labels(*labels)


class RequestMetrics:
    """Plain ASGI middleware (no per-request task or copy)."""

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
            _child(LATENCY, scope["method"], path).observe(time.perf_counter() - started)
            _child(REQUESTS, scope["method"], path, str(status)).inc()


def install_metrics_middleware(app: FastAPI) -> None:
    app.add_middleware(RequestMetrics)
