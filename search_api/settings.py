"""Settings of the search API."""

from __future__ import annotations

from pydantic import Field

from shared.config import AuthSettings, ElasticSettings


class SearchApiSettings(ElasticSettings, AuthSettings):
    # Read-your-writes: how long a request with min_position may wait by default, and at most (ms).
    default_wait_ms: int = Field(default=3000, ge=0)
    max_wait_ms: int = Field(default=10_000, ge=0)
    # Requests this process may have in flight to Elasticsearch at once. Beyond, a search waits in this process for
    # a free connection, and each one freed costs a turn of the event loop before the next search goes out; under a
    # burst, Elasticsearch's own search queue is the better place to wait. The client's default of 10 made the
    # API's p99 about twice Elasticsearch's at 100 searches/s (tests/bench/search_latency.py).
    elasticsearch_connections: int = Field(default=64, ge=1, le=1024)
    # The console (search_api/console): where the browser sends commands (the write API as the user's browser
    # reaches it; the write API must allow this API's origin in CORS_ORIGINS).
    write_api_public_url: str = "http://127.0.0.1:8001"
    # GET /status: where this process reaches the other processes' /readyz (and the workers' /metrics).
    write_api_url: str = "http://127.0.0.1:8001"
    relay_ops_url: str = "http://127.0.0.1:8003"
    projector_ops_url: str = "http://127.0.0.1:8004"
    # How long GET /status waits for each process before it shows it as down (seconds).
    status_timeout_s: float = Field(default=2.0, gt=0, le=30)
