"""Two settings that make a FastAPI process cheaper per request, for both APIs."""

from __future__ import annotations

import gc

from fastapi.telemetry import TelemetryConfig

# FastAPI's native OpenTelemetry support asks the global OpenTelemetry providers on every request whether any is
# configured (a few environment lookups each time). The platform exports Prometheus metrics and ships no
# OpenTelemetry SDK, so the apps turn it off.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def freeze_startup_objects() -> None:
    """Moves everything alive once a server has started (modules, routes, models, clients) out of the garbage
    collector's reach. A full collection otherwise walks all of it again, a pause every request in flight waits out
    (README, "What limits them": search). Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()
