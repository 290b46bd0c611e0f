"""The relay: the only publisher. Tails committed events in read order and publishes them to RabbitMQ.

    python -m write_api.relay

Why a relay: a request handler that wrote to PostgreSQL and then published would lose the message whenever it
crashed between the two (a dual write). The relay reads what has committed, publishes a batch with publisher
confirms, and only then stores its checkpoint: after a crash it republishes from the checkpoint (at least once;
the projector is idempotent). Reading is gap-free, in (transaction id, global position) order (see
event_store/queries.py). Several relays may run: the one holding a PostgreSQL advisory lock works, the others wait
as hot standbys and take over within a second of its session ending.

After each published batch the relay sends a position marker: "every transaction with id <= N is published".
Projections record the last marker they applied as their position, which is what read-your-writes compares with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from typing import Any

import aio_pika
import asyncpg
import orjson
from prometheus_client import Counter, Gauge, Histogram

from shared import worker
from shared.events.envelope import PositionMarker
from shared.logging import configure_logging
from shared.messaging import POSITION_ROUTING_KEY, declare_topology, routing_key
from shared.worker import ops_app, ops_server, stop_event_on_signals
from write_api.event_store import queries
from write_api.event_store.records import START, ReadPosition, RecordedEvent
from write_api.event_store.store import init_connection, read_all_on
from write_api.settings import RelaySettings

log = logging.getLogger(__name__)

PUBLISHED = Counter("relay_published_total", "Events published and confirmed by the broker")
BATCH_SIZE = Histogram("relay_batch_size", "Events per published batch", buckets=(1, 10, 50, 100, 250, 500, 1000, 5000))
CONFIRM_LATENCY = Histogram("relay_batch_seconds", "Time to publish a batch and receive its confirms")
ACTIVE = Gauge("relay_active", "1 while this relay holds the lock and publishes, 0 while it stands by")
POSITION = Gauge("relay_position", "Transaction id up to which every event has been published")
CHECKPOINT = Gauge("relay_checkpoint_global_position", "Global position of the last published event")
LAG_EVENTS = Gauge("relay_lag_events", "Committed events not yet published")
LAG_SECONDS = Gauge("relay_lag_seconds", "Age of the oldest committed event not yet published")
HELD_SECONDS = Gauge("relay_held_seconds", "Age of the oldest open writing transaction, which holds readers back")

LOCK_NAMESPACE = 0x52454C41  # "RELA"
NOTIFY_CHANNEL = "events_appended"

LOAD_CHECKPOINT = """
SELECT transaction_id::text::bigint AS transaction_id, global_position FROM relay_checkpoints WHERE name = $1
"""
SAVE_CHECKPOINT = """
INSERT INTO relay_checkpoints (name, transaction_id, global_position, updated_at)
VALUES ($1, $2::text::xid8, $3, now())
ON CONFLICT (name) DO UPDATE
SET transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
"""
# Any committed event after the checkpoint, readable or not (not yet readable: an older transaction is open): true or
# no row. Not `SELECT EXISTS (...)`: as a prepared statement that gets a generic plan, and PostgreSQL chose a scan of
# the whole table for it (the row comparison's selectivity is a guess), 20 ms at 50,000 events, twice a second even
# when idle. ORDER BY the index's columns with LIMIT 1 keeps it on the index (tests/integration/test_relay.py).
HAS_UNREAD = """
SELECT true FROM events WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
ORDER BY transaction_id, global_position
LIMIT 1
"""
BLOCKED_MIN_DELAY = 0.005
BLOCKED_MAX_DELAY = 0.1
LAG = """
SELECT count(*) AS events, coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8 AS seconds
FROM events
WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
"""


def envelope(event: RecordedEvent) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "stream_id": event.stream_id,
        "stream_type": event.stream_type,
        "version": event.version,
        "global_position": event.global_position,
        "transaction_id": event.transaction_id,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "recorded_at": event.recorded_at.isoformat(),
        "data": event.data,
        "metadata": event.metadata,
    }


def to_message(event: RecordedEvent) -> aio_pika.Message:
    return aio_pika.Message(
        body=orjson.dumps(envelope(event)),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event.event_id),
        type=event.event_type,
        timestamp=event.recorded_at,
    )


def marker_message(position: int) -> aio_pika.Message:
    return aio_pika.Message(
        body=PositionMarker(position=position).model_dump_json().encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        type="PositionMarker",
    )


class Relay:
    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.lock_key = LOCK_NAMESPACE << 32 | zlib.crc32(settings.relay_name.encode())
        self.conn: asyncpg.Connection | None = None
        self.checkpoint = START
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by until this relay holds the lock, then publish until stopped; start over after any failure."""
        while not stop.is_set():
            try:
                await self._run_once(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, aio_pika.exceptions.AMQPError) as exc:
                log.warning("relay lost a dependency (%s: %s); starting over in 1 s", type(exc).__name__, exc)
                ACTIVE.set(0)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1)

    async def _run_once(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self.settings.database_url)
        await init_connection(conn)
        self.conn = conn
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
                ACTIVE.set(0)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1)
                if stop.is_set():
                    return
            log.info("relay %s holds the lock and publishes", self.settings.relay_name)
            ACTIVE.set(1)
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake.set())
            row = await conn.fetchrow(LOAD_CHECKPOINT, self.settings.relay_name)
            self.checkpoint = START if row is None else ReadPosition(row["transaction_id"], row["global_position"])
            connection = await aio_pika.connect(self.settings.rabbitmq_url)
            try:
                channel = await connection.channel(publisher_confirms=True)
                topology = await declare_topology(channel, self.settings.rabbitmq_prefix)
                await self._publish_loop(conn, topology.events, stop)
            finally:
                await connection.close()
        finally:
            ACTIVE.set(0)
            self.conn = None
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def _publish_loop(
        self, conn: asyncpg.Connection, exchange: aio_pika.abc.AbstractExchange, stop: asyncio.Event
    ) -> None:
        marked = self.checkpoint.transaction_id - 1
        blocked_delay = BLOCKED_MIN_DELAY
        while not stop.is_set():
            self.wake.clear()
            batch = await read_all_on(conn, self.checkpoint, self.settings.relay_batch_size)
            if batch.events:
                started = time.perf_counter()
                # Publish the whole batch, then wait for every confirm: a nack or a lost connection raises,
                # and the checkpoint stays where it was, so the batch is published again.
                confirms = [
                    exchange.publish(to_message(e), routing_key(e.stream_type, e.event_type), mandatory=False)
                    for e in batch.events
                ]
                await asyncio.gather(*confirms)
                self.checkpoint = batch.events[-1].read_order
                await conn.execute(
                    SAVE_CHECKPOINT,
                    self.settings.relay_name,
                    str(self.checkpoint.transaction_id),
                    self.checkpoint.global_position,
                )
                PUBLISHED.inc(len(batch.events))
                BATCH_SIZE.observe(len(batch.events))
                CONFIRM_LATENCY.observe(time.perf_counter() - started)
                CHECKPOINT.set(self.checkpoint.global_position)
            if batch.watermark > marked and (batch.events or marked < self.checkpoint.transaction_id):
                # Sent after the batch's confirms, so it lands behind the batch in every queue.
                await exchange.publish(marker_message(batch.watermark), POSITION_ROUTING_KEY)
                marked = batch.watermark
                POSITION.set(marked)
            if len(batch.events) == self.settings.relay_batch_size:
                blocked_delay = BLOCKED_MIN_DELAY
                continue
            if await conn.fetchval(HAS_UNREAD, str(self.checkpoint.transaction_id), self.checkpoint.global_position):
                # Committed events wait behind an older transaction that is still open (which sends no NOTIFY
                # when it ends): look again soon, backing off, instead of sleeping a whole poll interval.
                await self._sleep(stop, blocked_delay)
                blocked_delay = min(blocked_delay * 2, BLOCKED_MAX_DELAY)
            else:
                blocked_delay = BLOCKED_MIN_DELAY
                await self._sleep(stop, self.settings.relay_poll_interval_s)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a NOTIFY, a stop, or the time is up."""
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def measure_lag(self, stop: asyncio.Event, pool: asyncpg.Pool) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                row = await pool.fetchrow(LAG, str(self.checkpoint.transaction_id), self.checkpoint.global_position)
                if row is not None:
                    LAG_EVENTS.set(row["events"])
                    LAG_SECONDS.set(row["seconds"])
                HELD_SECONDS.set(await pool.fetchval(queries.OLDEST_RUNNING_TRANSACTION))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)


async def main_async(settings: RelaySettings) -> None:
    stop = stop_event_on_signals()
    relay = Relay(settings)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    assert pool is not None

    async def ready() -> dict[str, bool]:
        # A standby is ready too: it holds a connection and waits for the lock.
        return {"postgres": relay.conn is not None and not relay.conn.is_closed()}

    server = ops_server(ops_app("Relay", ready), settings.relay_port, settings.ops_host)
    tasks = [asyncio.create_task(server.serve()), asyncio.create_task(relay.measure_lag(stop, pool))]
    try:
        await relay.run(stop)
    finally:
        server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
    log.info("relay stopped at %s", relay.checkpoint)


def main() -> None:
    settings = RelaySettings()
    configure_logging(settings.log_level)
    worker.run(main_async(settings))


if __name__ == "__main__":
    main()
