"""Shared fixtures: real services, an isolated namespace per test session (database, broker prefix, index prefix)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx
import pytest
import pytest_asyncio

from shared.messaging import (
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    PROJECTION_TOPICS,
    parked_queue_name,
    prefixed,
    queue_name,
)
from tests.services import ServiceUrls, container_services, docker_engine_available, local_services
from write_api.migrate import migrate


@dataclass(frozen=True)
class Namespace:
    """One test session's own corner of each service."""

    database_url: str
    admin_url: str  # the service's own database, for CREATE DATABASE
    template_database: str  # migrated once; fresh databases are copied from it
    rabbitmq_url: str
    rabbitmq_prefix: str
    elasticsearch_url: str
    elasticsearch_prefix: str


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def service_urls() -> Iterator[ServiceUrls]:
    with ExitStack() as stack:
        yield container_services(stack) if docker_engine_available() else local_services()


async def _check_services(urls: ServiceUrls) -> None:
    problems = []
    try:
        conn = await asyncpg.connect(urls.database_url, timeout=5)
        await conn.close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {urls.database_url}: {exc!r}")
    try:
        connection = await aio_pika.connect(urls.rabbitmq_url, timeout=5)
        await connection.close()
    except Exception as exc:
        problems.append(f"RabbitMQ at {urls.rabbitmq_url}: {exc!r}")
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            (await client.get(f"{urls.elasticsearch_url}/_cluster/health")).raise_for_status()
    except Exception as exc:
        problems.append(f"Elasticsearch at {urls.elasticsearch_url}: {exc!r}")
    if problems:
        pytest.fail(
            f"real services are required ({urls.source}); start them with `bash infra/services.sh start`:\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


@pytest_asyncio.fixture(scope="session")
async def namespace(service_urls: ServiceUrls) -> AsyncIterator[Namespace]:
    await _check_services(service_urls)
    tag = f"t{secrets.token_hex(4)}"
    database = f"shop_{tag}"
    template = f"shop_{tag}_template"
    admin = await asyncpg.connect(service_urls.database_url)
    await admin.execute(f'CREATE DATABASE "{template}"')
    await migrate(_with_database(service_urls.database_url, template))
    await admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    database_url = _with_database(service_urls.database_url, database)
    ns = Namespace(
        database_url,
        service_urls.database_url,
        template,
        service_urls.rabbitmq_url,
        f"{tag}.",
        service_urls.elasticsearch_url,
        f"{tag}-",
    )
    try:
        yield ns
    finally:
        await delete_broker_objects(ns.rabbitmq_url, ns.rabbitmq_prefix)
        async with httpx.AsyncClient(timeout=30) as client:
            await client.delete(f"{ns.elasticsearch_url}/{ns.elasticsearch_prefix}*")
        for name in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"shop_{tag}%"):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name["datname"]}" WITH (FORCE)')
        await admin.close()


async def delete_broker_objects(rabbitmq_url: str, prefix: str) -> None:
    """Delete the exchanges and queues (with their parking queues) of a RabbitMQ name prefix, whichever exist."""
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        names = [n for p in PROJECTION_TOPICS for n in (queue_name(prefix, p), parked_queue_name(prefix, p))]
        for name in names:
            channel = await connection.channel()  # a failed operation closes its channel
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(name)
        for name in (EXCHANGE, DEAD_LETTER_EXCHANGE):
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(prefixed(prefix, name))
    finally:
        await connection.close()


@pytest_asyncio.fixture
async def fresh_database_url(namespace: Namespace) -> AsyncIterator[str]:
    """A database of its own for one test, copied from the migrated template (fast)."""
    name = f"{namespace.template_database.removesuffix('_template')}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(namespace.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{namespace.template_database}"')
        yield _with_database(namespace.admin_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture
async def pg_pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    from shared.event_log import init_connection

    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=40, init=init_connection)
    assert pool is not None
    try:
        yield pool
    finally:
        await asyncio.wait_for(pool.close(), 10)
