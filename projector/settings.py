"""Settings of the projector."""

from __future__ import annotations

from pydantic import Field

from shared.config import ElasticSettings, PostgresSettings, RabbitSettings


class ProjectorSettings(ElasticSettings, RabbitSettings, PostgresSettings):
    projector_port: int = 8004
    # Which projections this process runs (comma-separated); all by default.
    projections: str = "products,inventory,orders"
    prefetch: int = Field(default=1000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    batch_wait_ms: int = Field(default=50, ge=0)
    # A message whose document cannot be written after this many attempts is parked.
    max_message_attempts: int = Field(default=20, ge=1)
    # ... and, for a message that arrived before its predecessor, only once this long has passed since the first try.
    early_patience_s: float = Field(default=30, ge=0)
    index_replicas: int = Field(default=0, ge=0)
    # How often applied writes are made searchable (Elasticsearch's own default is 1 s).
    refresh_interval_ms: int = Field(default=1000, ge=50)
    # Documents each projection keeps in memory as it last wrote them, so that a batch reads only the others.
    cached_documents: int = Field(default=50_000, ge=0)
