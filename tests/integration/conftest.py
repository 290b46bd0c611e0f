"""Integration fixtures for the relay: real relay subprocesses, a tap queue on the real broker, a real store.

Each test gets its own database (`fresh_database_url`) and its own RabbitMQ name prefix (`broker_prefix`), so relays
of different tests never share a checkpoint, an advisory lock or an exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio

from shared.messaging import (
    declare_topology,
)
from tests.conftest import Namespace, delete_broker_objects
from tests.integration.stack import NewStack, Stack, new_platform
from tests.integration.write_conftest_helpers import create_database, drop_database
from tests.platform import free_port
from tests.services import ROOT
from write_api.event_store.records import NewEvent, ReadPosition
from write_api.event_store.store import PostgresEventStore

# ---------------------------------------------------------------------------------------------------------------
# The relay as a real process


@dataclass
class RelayProcess:
    label: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "write_api.relay"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def wait_ready(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise AssertionError(f"relay {self.label} exited:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"relay {self.label} not ready in {within} s:\n{self.tail()}")

    async def metrics(self) -> dict[str, float]:
        """Unlabelled samples of GET /metrics (Prometheus text)."""
        async with httpx.AsyncClient(timeout=2) as client:
            response = await client.get(f"{self.url}/metrics")
        response.raise_for_status()
        samples: dict[str, float] = {}
        for line in response.text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            if "{" not in name:
                samples[name] = float(value)
        return samples

    async def metric(self, name: str) -> float:
        return (await self.metrics())[name]

    async def wait_metric(self, name: str, predicate: Callable[[float], bool], within: float) -> float:
        deadline = time.monotonic() + within
        value = float("nan")
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, KeyError):
                value = await self.metric(name)
                if predicate(value):
                    return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"relay {self.label}: {name} still {value} after {within} s:\n{self.tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def relay_env(database_url: str, rabbitmq_url: str, prefix: str, port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("API_KEYS", "DATABASE_", "RABBITMQ_", "ELASTIC", "RELAY_", "OPS_"))
    }
    env.update(
        {
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "INFO",
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "RABBITMQ_PREFIX": prefix,
            "RELAY_PORT": str(port),
            "PYTHONPATH": str(ROOT),
            **extra,
        }
    )
    return env


StartRelay = Callable[..., RelayProcess]


@pytest.fixture
def start_relay(
    namespace: Namespace, fresh_database_url: str, broker_prefix: str, tmp_path: Path
) -> Iterator[StartRelay]:
    """start_relay(label, RELAY_POLL_INTERVAL_S="5", ...): a relay subprocess on this test's database and prefix."""
    started: list[RelayProcess] = []

    def start(label: str = "relay", **extra_env: str) -> RelayProcess:
        port = free_port()
        env = relay_env(fresh_database_url, namespace.rabbitmq_url, broker_prefix, port, **extra_env)
        relay = RelayProcess(label, port, env, tmp_path / f"{label}.log")
        relay.start()
        started.append(relay)
        return relay

    try:
        yield start
    finally:
        for relay in started:
            relay.stop()


# ---------------------------------------------------------------------------------------------------------------
# The broker side: this test's prefix, and a tap queue that sees everything the relay publishes


@pytest_asyncio.fixture
async def broker_prefix(namespace: Namespace) -> AsyncIterator[str]:
    """A RabbitMQ name prefix of this test's own; its exchanges and queues are deleted afterwards."""
    prefix = f"{namespace.rabbitmq_prefix}relay{secrets.token_hex(3)}."
    yield prefix
    await delete_broker_objects(namespace.rabbitmq_url, prefix)


@dataclass(frozen=True)
class Delivery:
    """One message as the tap queue delivered it; `seq` is the broker's delivery order on the tap's channel."""

    seq: int
    at: float  # time.monotonic() on receipt
    type: str | None
    message_id: str | None
    routing_key: str | None
    body: dict[str, Any]

    @property
    def is_marker(self) -> bool:
        return self.type == "PositionMarker"

    @property
    def position(self) -> int | None:
        """The position the message vouches for: every transaction up to it has been published (markers and
        whole transactions; a part of a transaction vouches for none)."""
        position = self.body.get("position")
        return int(position) if position is not None else None


@dataclass(frozen=True)
class TapEvent:
    """One event of a transaction message, in the broker's delivery order (message, then place in the message)."""

    seq: tuple[int, int]
    at: float
    message: Delivery
    body: dict[str, Any]

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.UUID(self.body["event_id"])

    @property
    def read_order(self) -> ReadPosition:
        return ReadPosition(int(self.body["transaction_id"]), int(self.body["global_position"]))


@dataclass
class BrokerTap:
    """A queue bound with `#` to the relay's events exchange, declared before anything is published."""

    deliveries: list[Delivery] = field(default_factory=list)
    connection: aio_pika.abc.AbstractConnection | None = None
    queue: aio_pika.abc.AbstractQueue | None = None

    async def open(self, rabbitmq_url: str, prefix: str) -> None:
        self.connection = await aio_pika.connect(rabbitmq_url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=2000)
        # The relay declares the same topology (idempotently); declaring it first lets the tap bind before the relay
        # publishes its first message.
        topology = await declare_topology(channel, prefix)
        self.queue = await channel.declare_queue(f"{prefix}test.tap-{secrets.token_hex(3)}", durable=False)
        await self.queue.bind(topology.events, routing_key="#")
        await self.queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.deliveries.append(
            Delivery(
                seq=message.delivery_tag or 0,
                at=time.monotonic(),
                type=message.type,
                message_id=message.message_id,
                routing_key=message.routing_key,
                body=orjson.loads(message.body),
            )
        )

    async def close(self) -> None:
        if self.queue is not None:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await self.queue.delete(if_unused=False, if_empty=False)
        if self.connection is not None:
            await self.connection.close()

    # What arrived, in the broker's delivery order.

    def ordered(self) -> list[Delivery]:
        return sorted(self.deliveries, key=lambda d: d.seq)

    def messages(self) -> list[Delivery]:
        """Transaction messages (not markers)."""
        return [d for d in self.ordered() if not d.is_marker]

    def events(self) -> list[TapEvent]:
        return [TapEvent((d.seq, i), d.at, d, body) for d in self.messages() for i, body in enumerate(d.body["events"])]

    def markers(self) -> list[Delivery]:
        return [d for d in self.ordered() if d.is_marker]

    def event_ids(self) -> set[uuid.UUID]:
        return {e.event_id for e in self.events()}

    def max_position(self) -> int:
        """The highest position any message has vouched for."""
        return max((d.position for d in self.deliveries if d.position is not None), default=-1)

    def first_receipts(self) -> list[TapEvent]:
        seen: set[uuid.UUID] = set()
        first = []
        for event in self.events():
            if event.event_id not in seen:
                seen.add(event.event_id)
                first.append(event)
        return first

    def duplicates(self) -> int:
        events = self.events()
        return len(events) - len({e.event_id for e in events})

    async def wait_until(self, predicate: Callable[[BrokerTap], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within} s waiting for {what}")
            await asyncio.sleep(0.02)

    async def wait_for_all(self, event_ids: Collection[uuid.UUID], last_transaction_id: int, within: float) -> None:
        """Until every one of `event_ids` has arrived and a message has vouched for `last_transaction_id`; on
        timeout, fail saying what is missing (an event the relay skipped never arrives)."""
        wanted = set(event_ids)
        deadline = time.monotonic() + within
        while not (wanted <= self.event_ids() and self.max_position() >= last_transaction_id):
            if time.monotonic() > deadline:
                missing = wanted - self.event_ids()
                raise AssertionError(
                    f"after {within} s, {len(missing)} of {len(wanted)} committed events never reached the broker "
                    f"(e.g. {sorted(map(str, missing))[:3]}); highest position {self.max_position()}, "
                    f"last transaction {last_transaction_id}"
                )
            await asyncio.sleep(0.02)

    async def wait_for_position(self, position: int, within: float) -> None:
        await self.wait_until(lambda t: t.max_position() >= position, within, f"a message vouching for {position}")


@pytest_asyncio.fixture
async def tap(namespace: Namespace, broker_prefix: str) -> AsyncIterator[BrokerTap]:
    broker_tap = BrokerTap()
    await broker_tap.open(namespace.rabbitmq_url, broker_prefix)
    try:
        yield broker_tap
    finally:
        await broker_tap.close()


# ---------------------------------------------------------------------------------------------------------------
# The store side


@pytest.fixture
def store(pg_pool: asyncpg.Pool) -> PostgresEventStore:
    return PostgresEventStore(pg_pool)


def probe_events(count: int, **data: Any) -> tuple[NewEvent, ...]:
    return tuple(NewEvent("RelayProbe", 1, {**data, "n": n}, {"test": "relay"}) for n in range(count))


@dataclass(frozen=True)
class StoredEvent:
    event_id: uuid.UUID
    read_order: ReadPosition
    stream_id: str
    version: int
    event_type: str


async def stored_events(database_url: str) -> dict[uuid.UUID, StoredEvent]:
    """Every row of `events`, read with a connection of its own."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_id, transaction_id::text::bigint AS tx, global_position, stream_id, version, event_type "
            "FROM events ORDER BY transaction_id, global_position"
        )
    finally:
        await conn.close()
    return {
        r["event_id"]: StoredEvent(
            r["event_id"], ReadPosition(r["tx"], r["global_position"]), r["stream_id"], r["version"], r["event_type"]
        )
        for r in rows
    }


async def relay_checkpoint(database_url: str, name: str = "main") -> ReadPosition | None:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT transaction_id::text::bigint AS tx, global_position FROM relay_checkpoints WHERE name = $1", name
        )
    finally:
        await conn.close()
    return None if row is None else ReadPosition(row["tx"], row["global_position"])


# ---------------------------------------------------------------------------------------------------------------
# Isolated stacks for the projector's fault tests (tests/integration/stack.py)


@pytest_asyncio.fixture(scope="module")
async def new_stack(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NewStack]:
    """new_stack(label): an isolated stack (nothing started); everything it created is removed at module end."""
    stacks: list[Stack] = []

    async def make(label: str) -> Stack:
        tag = f"pf{label}{secrets.token_hex(2)}"
        database_url = await create_database(namespace, tag)
        rabbitmq_prefix, es_prefix = f"{namespace.rabbitmq_prefix}{tag}.", f"{namespace.elasticsearch_prefix}{tag}-"
        logs = tmp_path_factory.mktemp(f"projector-faults-{label}")
        platform = new_platform(namespace, database_url, rabbitmq_prefix, es_prefix, logs)
        stack = Stack(label, namespace, database_url, rabbitmq_prefix, es_prefix, platform)
        stacks.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            await asyncio.to_thread(stack.platform.stop_all)
            with contextlib.suppress(Exception):
                await delete_broker_objects(namespace.rabbitmq_url, stack.rabbitmq_prefix)
            async with httpx.AsyncClient(timeout=60) as es:
                with contextlib.suppress(httpx.HTTPError):
                    await es.delete(f"{namespace.elasticsearch_url}/{stack.elasticsearch_prefix}*")
            with contextlib.suppress(Exception):
                await drop_database(namespace, stack.database_url)
