"""What the two worker processes (relay, projector) share: an operations HTTP server and signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn
import uvloop
from fastapi import FastAPI

from shared.ops_routes import ops_router

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop, as uvicorn runs the APIs: the relay and the projector spend much of their CPU in the
    event loop and in socket writes (one per AMQP frame), which uvloop does in C (py-spy under the projector bench)."""
    return uvloop.run(main)


def ops_app(
    title: str,
    ready: Callable[[], Awaitable[dict[str, bool]]],
    describe: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None)
    app.include_router(ops_router(ready, describe))
    return app


class _OpsServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the worker owns SIGTERM/SIGINT (stop_event_on_signals) and stops this server itself


def ops_server(app: FastAPI, port: int, host: str = "127.0.0.1") -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    return _OpsServer(config)


def stop_event_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so the worker can finish its batch and exit cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
