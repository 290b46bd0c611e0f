"""Settings of the write API and the relay."""

from __future__ import annotations

from pydantic import Field

from shared.config import AuthSettings, PostgresSettings, RabbitSettings

# The console's origin in development: the search API on its default port, by either loopback name.
DEVELOPMENT_CONSOLE_ORIGINS = ("http://127.0.0.1:8002", "http://localhost:8002")


class WriteApiSettings(PostgresSettings, AuthSettings):
    # Largest request body accepted (bytes); the catalogue import route allows IMPORT_MAX_BYTES.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    import_max_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    # Product and inventory streams whose latest state the process keeps for order placement (0: none); every
    # decision made on them is checked against the store when it commits (service_layer/stream_cache.py).
    write_cache_streams: int = Field(default=50_000, ge=0, le=10_000_000)
    # Commands one process decides and commits at once; the others wait their turn, first come first served. A few
    # cover the database's round trip; more only interleave on the one event loop, holding stream locks longer and
    # spreading latency (README, Decisions: "A few commands at a time").
    write_concurrency: int = Field(default=4, ge=1, le=1000)
    # Origins whose pages may send commands from a browser (the console, served by the search API): comma-separated,
    # e.g. `https://console.example.com`. Empty means the search API's own development origins in development, and
    # no origin at all otherwise.
    cors_origins: str = ""

    def allowed_origins(self) -> list[str]:
        named = [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]
        if named or self.environment != "development":
            return named
        return list(DEVELOPMENT_CONSOLE_ORIGINS)


class RelaySettings(PostgresSettings, RabbitSettings):
    relay_name: str = "main"
    relay_port: int = 8003
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Poll this often even without a NOTIFY (a lost notification must not stall the relay).
    relay_poll_interval_s: float = Field(default=0.5, gt=0)
    # Woken by a commit, wait this long before reading, so that commits close together go out as one batch.
    relay_linger_ms: int = Field(default=20, ge=0, le=1000)
