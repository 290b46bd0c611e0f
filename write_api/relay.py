"""The relay: the only publisher. Tails committed transactions in read order and publishes each as one message.

    python -m write_api.relay

Why a relay: a request handler that wrote to PostgreSQL and then published would lose the message whenever it
crashed between the two (a dual write). The relay reads what has committed, publishes a batch with publisher
confirms, and only then stores its checkpoint: after a crash it republishes from the checkpoint (at least once;
the projector is idempotent). Reading is gap-free, in (transaction id, global position) order (shared/event_log.py).
Several relays may run: the one holding a PostgreSQL advisory lock publishes, the others wait as hot standbys and
take over within a second of its session ending.

Each transaction is one persistent message (shared/events/messages.py) carrying its position, the transaction id:
every transaction up to it has been published. A projection that received none of the latest transactions (the
orders projection after a price change) gets a position marker instead, so that it still learns it is past them.
Losing PostgreSQL or RabbitMQ ends the session: the relay reconnects with a bounded, jittered backoff and carries on
from its checkpoint; /readyz answers 503 meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib

import aio_pika
import asyncpg
from aiormq.exceptions import ChannelInvalidStateError
from prometheus_client import Counter, Gauge, Histogram

from shared import worker
from shared.event_log import START, ReadPosition, TransactionBatch, connect, read_transactions
from shared.logging import configure_logging
from shared.messaging import (
    PROJECTION_TOPICS,
    declare_topology,
    marker_routing_key,
    projections_of,
    transaction_routing_key,
)
from shared.retry import Backoff
from shared.worker import ops_app, ops_server, stop_event_on_signals
from write_api.relay_lag import log_published, measure_lag
from write_api.relay_messages import marker_message, transaction_message
from write_api.relay_queries import LOAD_CHECKPOINT, SAVE_CHECKPOINT
from write_api.settings import RelaySettings

log = logging.getLogger(__name__)

PUBLISHED = Counter("relay_published_total", "Events published and confirmed by the broker")
MESSAGES = Counter("relay_messages_total", "Messages published and confirmed: transactions and position markers")
BATCH_SIZE = Histogram("relay_batch_size", "Events per published batch", buckets=(1, 10, 50, 100, 250, 500, 1000, 5000))
CONFIRM_LATENCY = Histogram("relay_batch_seconds", "Time to publish a batch and receive its confirms")
ACTIVE = Gauge("relay_active", "1 while this relay holds the lock and publishes, 0 while it stands by")
POSITION = Gauge("relay_position", "Transaction id up to which every event has been published")
CHECKPOINT = Gauge("relay_checkpoint_global_position", "Global position of the last published event")

LOCK_NAMESPACE = 0x52454C41  # "RELA"
NOTIFY_CHANNEL = "events_appended"
BLOCKED_MIN_DELAY = 0.005
BLOCKED_MAX_DELAY = 0.1
DEPENDENCY_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    aio_pika.exceptions.AMQPError,
    ChannelInvalidStateError,  # a publish on a channel whose connection just went
)


class Relay:
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.lock_key = LOCK_NAMESPACE << 32 | zlib.crc32(settings.relay_name.encode())
        self.checkpoint = START
        self.wake = asyncio.Event()
        self.postgres: asyncpg.Connection | None = None
        self.broker: aio_pika.abc.AbstractConnection | None = None
        self.active = False
        # Per projection, the highest position it has been told (a transaction it received, or a marker).
        self.told: dict[str, int] = {}
        self.published = 0  # highest transaction id published whole
        # A transaction larger than a read goes out in parts; the last part is known only when the next read does
        # not continue it.
        self.unfinished: int | None = None

    def ready(self) -> dict[str, bool]:
        return {
            "postgres": self.postgres is not None and not self.postgres.is_closed(),
            "rabbitmq": self.broker is not None and not self.broker.is_closed,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, stand by until this relay holds the lock, then publish until stopped; after the loss of a
        dependency, reconnect with backoff and go on from the checkpoint."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                await self._session(stop, backoff)
                continue
            except DEPENDENCY_ERRORS as exc:
                delay = backoff.next_delay()
                log.warning("relay lost a dependency (%s: %s); reconnecting in %.1f s", type(exc).__name__, exc, delay)
            except Exception:  # a bug must not end the process either: it is logged, and the relay starts over
                delay = backoff.next_delay()
                log.exception("relay failed unexpectedly; starting over in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        conn = await connect(self.settings.database_url)
        self.postgres = conn
        try:
            broker = await aio_pika.connect(self.settings.rabbitmq_url)
            self.broker = broker
            try:
                channel = await broker.channel(publisher_confirms=True)
                topology = await declare_topology(channel, self.settings.rabbitmq_prefix)
                backoff.reset()
                if await self._wait_for_lock(conn, broker, stop):
                    await self._publish_loop(conn, broker, topology.events, stop)
            finally:
                self.broker = None
                with contextlib.suppress(Exception):
                    await broker.close()
        finally:
            self.active = False
            ACTIVE.set(0)
            self.postgres = None
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def _wait_for_lock(
        self, conn: asyncpg.Connection, broker: aio_pika.abc.AbstractConnection, stop: asyncio.Event
    ) -> bool:
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
            _check_open(broker)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
            if stop.is_set():
                return False
        log.info("relay %s holds the lock and publishes", self.settings.relay_name)
        self.active = True
        ACTIVE.set(1)
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake.set())
        row = await conn.fetchrow(LOAD_CHECKPOINT, self.settings.relay_name)
        self.checkpoint = START if row is None else ReadPosition(row["transaction_id"], row["global_position"])
        # What the projections were told before is not known here: every one gets a marker after the first read.
        self.told = {}
        self.published = self.checkpoint.transaction_id - 1
        return True

    async def _publish_loop(
        self,
        conn: asyncpg.Connection,
        broker: aio_pika.abc.AbstractConnection,
        exchange: aio_pika.abc.AbstractExchange,
        stop: asyncio.Event,
    ) -> None:
        blocked_delay = BLOCKED_MIN_DELAY
        while not stop.is_set():
            _check_open(broker)
            self.wake.clear()
            batch = await read_transactions(conn, self.checkpoint, self.settings.relay_batch_size)
            self._finish_parts(batch)
            if batch.transactions:
                await self._publish(conn, exchange, batch)
            await self._send_markers(exchange, batch.watermark)
            POSITION.set(batch.watermark)
            if batch.full:
                blocked_delay = BLOCKED_MIN_DELAY
                continue
            if batch.waiting:
                # Committed events wait behind an older transaction that is still open (which sends no NOTIFY
                # when it ends): look again soon, backing off, instead of sleeping a whole poll interval.
                await self._sleep(stop, blocked_delay)
                blocked_delay = min(blocked_delay * 2, BLOCKED_MAX_DELAY)
            else:
                blocked_delay = BLOCKED_MIN_DELAY
                await self._sleep(stop, self.settings.relay_poll_interval_s)

    async def _publish(
        self, conn: asyncpg.Connection, exchange: aio_pika.abc.AbstractExchange, batch: TransactionBatch
    ) -> None:
        """Publish every transaction of the batch, wait for all the confirms, then store the checkpoint: a nack or a
        lost connection raises and the checkpoint stays where it was, so the batch is published again."""
        started = time.perf_counter()
        await asyncio.gather(
            *(
                exchange.publish(transaction_message(t), transaction_routing_key(t.stream_types, t.event_types))
                for t in batch.transactions
            )
        )
        checkpoint = batch.checkpoint
        assert checkpoint is not None
        await conn.execute(
            SAVE_CHECKPOINT, self.settings.relay_name, str(checkpoint.transaction_id), checkpoint.global_position
        )
        self.checkpoint = checkpoint
        for transaction in batch.transactions:
            if not transaction.complete:
                self.unfinished = transaction.transaction_id
            else:
                self.unfinished = None
                self.published = max(self.published, transaction.transaction_id)
                for projection in projections_of(transaction.stream_types, transaction.event_types):
                    self.told[projection] = max(self.told.get(projection, -1), transaction.transaction_id)
        events = sum(t.events for t in batch.transactions)
        PUBLISHED.inc(events)
        MESSAGES.inc(len(batch.transactions))
        BATCH_SIZE.observe(events)
        CONFIRM_LATENCY.observe(time.perf_counter() - started)
        CHECKPOINT.set(checkpoint.global_position)
        log_published(batch, events)

    def _finish_parts(self, batch: TransactionBatch) -> None:
        """A transaction sent in parts whose last part went out (this read does not continue it) is published whole:
        its parts vouched for no position, so every projection it reached gets a marker."""
        first = batch.transactions[0].transaction_id if batch.transactions else None
        if self.unfinished is not None and first != self.unfinished:
            self.published = max(self.published, self.unfinished)
            self.unfinished = None

    async def _send_markers(self, exchange: aio_pika.abc.AbstractExchange, watermark: int) -> None:
        """A marker to each projection that has not been told the latest published transaction: it received none
        of the transactions up to it (they held no events it folds)."""
        behind = [p for p in PROJECTION_TOPICS if self.told.get(p, -1) < self.published]
        if behind and watermark >= self.published:
            await asyncio.gather(*(exchange.publish(marker_message(watermark), marker_routing_key(p)) for p in behind))
            MESSAGES.inc(len(behind))
            for projection in behind:
                self.told[projection] = watermark

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a NOTIFY, a stop, or the time is up. Woken by a NOTIFY, it lingers RELAY_LINGER_MS more, so that the
        transactions committing meanwhile go out in the same batch: one read, one checkpoint and one round of
        confirms for several, where each order would otherwise cost the relay a cycle of its own."""
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self.wake.is_set() and not stop.is_set() and self.settings.relay_linger_ms:
            await asyncio.sleep(self.settings.relay_linger_ms / 1000)


def _check_open(broker: aio_pika.abc.AbstractConnection) -> None:
    if broker.is_closed:
        raise ConnectionError("the connection to RabbitMQ is closed")


async def main_async(settings: RelaySettings) -> None:
    stop = stop_event_on_signals()
    relay = Relay(settings)

    async def ready() -> dict[str, bool]:
        # A standby is ready when it could take over: both dependencies answer. /readyz says whether it publishes.
        return relay.ready()

    app = ops_app("Relay", ready, lambda: {"holds_lock": relay.active, "checkpoint": relay.checkpoint.__dict__})
    server = ops_server(app, settings.relay_port, settings.ops_host)
    lag = asyncio.create_task(measure_lag(settings.database_url, lambda: relay.checkpoint, stop))
    tasks = [asyncio.create_task(server.serve()), lag]
    try:
        await relay.run(stop)
    finally:
        server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
    log.info("relay stopped at %s", relay.checkpoint)


def main() -> None:
    settings = RelaySettings()
    configure_logging(settings.log_level, settings.log_format)
    worker.run(main_async(settings))


if __name__ == "__main__":
    main()
