"""Prometheus helpers."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, made once per label set: `labels()` takes a lock and builds a key on every call,
    several microseconds on a path that runs for every request and event. Only for label sets of a bounded number
    (route templates, status codes, event types, projection names)."""
    return metric.labels(*labels)
