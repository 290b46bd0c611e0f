"""Settings blocks (classes only, no instances): each service composes the blocks it needs.

Every field is read from an environment variable of the same name (upper case); see README "Configuration".
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    environment: Environment = "development"
    log_level: str = "INFO"
    # `plain` lines of text, or `json`: one JSON object per line (shared/logging.py).
    log_format: Literal["plain", "json"] = "plain"
    # Address the workers' operations endpoints (/healthz, /readyz, /metrics) listen on.
    ops_host: str = "127.0.0.1"


class PostgresSettings(BaseServiceSettings):
    database_url: str = "postgresql://shop:shop@127.0.0.1:5432/shop"
    database_pool_min: int = Field(default=2, ge=1)
    database_pool_max: int = Field(default=20, ge=1)


class RabbitSettings(BaseServiceSettings):
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Exchange and queue names get this prefix, so that test runs (and several deployments) can share one broker.
    rabbitmq_prefix: str = ""


class ElasticSettings(BaseServiceSettings):
    elasticsearch_url: str = "http://127.0.0.1:9200"
    # Index and alias names get this prefix, so that test runs can share one cluster.
    elasticsearch_prefix: str = ""
    elasticsearch_timeout_s: float = 30.0


class AuthSettings(BaseServiceSettings):
    # Comma-separated `role:key` pairs; a key may be given hashed as `sha256:<hex>`.
    # Empty in development means the built-in development keys (see shared/auth.py).
    api_keys: str = ""
