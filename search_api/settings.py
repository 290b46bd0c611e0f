"""Settings of the search API."""

from __future__ import annotations

from pydantic import Field

from shared.config import AuthSettings, ElasticSettings


class SearchApiSettings(ElasticSettings, AuthSettings):
    # Read-your-writes: how long a request with min_position may wait by default, and at most (ms).
    default_wait_ms: int = Field(default=3000, ge=0)
    max_wait_ms: int = Field(default=10_000, ge=0)
