"""Where the real backing services for tests come from.

With a Docker engine: testcontainers starts PostgreSQL, RabbitMQ and Elasticsearch (Elasticsearch built from
infra/elasticsearch/Dockerfile, for the Hunspell dictionary). Without one (this project's machines and CI): the
local services that `infra/services.sh start` runs, at TEST_DATABASE_URL / TEST_RABBITMQ_URL /
TEST_ELASTICSEARCH_URL or their defaults. A service that does not answer fails the run; it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str  # a role that may CREATE DATABASE
    rabbitmq_url: str
    elasticsearch_url: str
    source: str


def docker_engine_available() -> bool:
    if os.environ.get("TESTS_USE_LOCAL_SERVICES") == "1" or shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def local_services() -> ServiceUrls:
    return ServiceUrls(
        database_url=os.environ.get("TEST_DATABASE_URL", "postgresql://shop:shop@127.0.0.1:5432/shop"),
        rabbitmq_url=os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        elasticsearch_url=os.environ.get("TEST_ELASTICSEARCH_URL", "http://127.0.0.1:9200"),
        source="local services (infra/services.sh)",
    )


def container_services(stack: ExitStack) -> ServiceUrls:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.image import DockerImage
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    postgres = stack.enter_context(PostgresContainer("postgres:15", username="shop", password="shop", dbname="shop"))
    rabbit = stack.enter_context(RabbitMqContainer("rabbitmq:3.10"))
    image = stack.enter_context(DockerImage(path=str(ROOT / "infra" / "elasticsearch"), tag="shop-elasticsearch:test"))
    es = (
        DockerContainer(str(image))
        .with_env("discovery.type", "single-node")
        .with_env("xpack.security.enabled", "false")
        .with_env("ES_JAVA_OPTS", "-Xms1g -Xmx1g")
        .with_exposed_ports(9200)
    )
    stack.enter_context(es)
    wait_for_logs(es, "started", timeout=180)
    pg_url = postgres.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")
    amqp = f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}/"
    es_url = f"http://{es.get_container_host_ip()}:{es.get_exposed_port(9200)}"
    return ServiceUrls(pg_url, amqp, es_url, "testcontainers")
