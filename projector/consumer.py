"""Consumes one projection's queue in batches: prefetch, gather (size or time bound), one bulk, then ack.

The only code of the projector that talks AMQP besides topology.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError as EsApiError
from elasticsearch import AsyncElasticsearch
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

from projector.elastic import ensure_alias, ensure_positions_index, index_age_s, read_position, record_position
from projector.engine import SearchVisibility, TransientError, apply_batch
from projector.projections import ProjectionSpec
from projector.settings import ProjectorSettings
from shared.events.envelope import Envelope, PositionMarker
from shared.messaging import Topology, declare_topology
from shared.read_models import Projection, alias_name

log = logging.getLogger(__name__)

APPLIED_POSITION = Gauge("projection_position", "Read-side position the projection has applied", ["projection"])
VISIBLE_POSITION = Gauge("projection_visible_position", "Read-side position that is searchable", ["projection"])
LAG_EVENTS = Gauge(
    "projection_lag_events", "Messages not yet applied: waiting in the queue or delivered and in work", ["projection"]
)
LAG_SECONDS = Gauge("projection_lag_seconds", "Age of the newest event applied in the last batch", ["projection"])
PARKED = Gauge("projection_parked_messages", "Messages parked in the projection's parking queue", ["projection"])
PARKED_TOTAL = Counter("projection_parked_total", "Messages this process parked", ["projection"])
APPLIED = Counter("projection_events_total", "Events handled (applied or skipped as duplicates)", ["projection"])
BATCH = Histogram(
    "projection_batch_size", "Messages per batch", ["projection"], buckets=(1, 10, 50, 100, 250, 500, 1000, 2000)
)
BULK_SECONDS = Histogram("projection_bulk_seconds", "Time to apply one batch to Elasticsearch", ["projection"])
TRANSIENT = Counter("projection_transient_errors_total", "Batches retried after a transient failure", ["projection"])

TRANSIENT_ERRORS = (TransientError, EsConnectionError, ConnectionTimeout)
EARLY_BACKOFF_S = 0.05  # before an early message goes back; doubles per attempt
EARLY_BACKOFF_MAX_S = 1.0
RETRY_DELAYS = (0.2, 0.5, 1, 2, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5)  # about a minute, then the batch is requeued


# Where in each refresh interval a projection refreshes. Elasticsearch runs refreshes on one thread (on a 2-core
# node); the three projections, started together, used to ask at the same moment, and the last one waited for the
# other two. Spread over the interval (on the machine's monotonic clock, which every process shares), none waits.
REFRESH_PHASE = {Projection.PRODUCTS: 0.0, Projection.INVENTORY: 1 / 3, Projection.ORDERS: 2 / 3}


def next_refresh_at(now: float, interval: float, phase: float) -> float:
    """The first moment after `now` that lies `phase` (a fraction) into an interval of the clock's grid."""
    offset = phase * interval
    return (math.floor((now - offset) / interval) + 1) * interval + offset


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    return isinstance(exc, EsApiError) and (exc.meta.status == 429 or exc.meta.status >= 500)


class ProjectionWorker:
    def __init__(self, settings: ProjectorSettings, spec: ProjectionSpec, es: AsyncElasticsearch) -> None:
        self.settings = settings
        self.spec = spec
        self.es = es
        self.name = spec.projection.value
        self.position = 0  # applied: written to the index
        self.visible_position = 0  # applied and refreshed: searchable
        self.last_event_at: str | None = None
        self.connected = False
        self.early_attempts: dict[str, tuple[int, float]] = {}  # message -> (attempts, first seen early)
        self.record_lock = asyncio.Lock()
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.processing = 0  # messages of the batch being applied
        self.visibility = SearchVisibility()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._run_once(stop)
            except (OSError, aio_pika.exceptions.AMQPError, *TRANSIENT_ERRORS) as exc:
                log.warning(
                    "projection %s lost a dependency (%s: %s); reconnecting in 1 s", self.name, type(exc).__name__, exc
                )
            except EsApiError as exc:
                if not _is_transient(exc):
                    raise
                log.warning("projection %s: elasticsearch error %s; retrying in 1 s", self.name, exc.meta.status)
            self.connected = False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)

    async def _run_once(self, stop: asyncio.Event) -> None:
        prefix = self.settings.elasticsearch_prefix
        await ensure_positions_index(self.es, prefix)
        behind, created = await ensure_alias(self.es, prefix, self.spec.projection, self.settings.index_replicas)
        # Read and write through the alias, so that a rebuild's alias swap redirects this worker at once.
        index = alias_name(prefix, self.spec.projection)
        self.position = self.visible_position = await read_position(self.es, prefix, self.spec.projection)
        # Nothing known about refreshes from before; an index this worker did not create may be a rebuild's, swapped
        # in moments ago and still being written.
        age = None if created else await index_age_s(self.es, behind)
        self.visibility = SearchVisibility(indices=[behind], index_age_s=age)
        APPLIED_POSITION.labels(self.name).set(self.position)
        connection = await aio_pika.connect(self.settings.rabbitmq_url)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.settings.prefetch)
            topology = await declare_topology(channel, self.settings.rabbitmq_prefix)
            queue = topology.queues[self.name]
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
            self.inbox = inbox
            await queue.consume(inbox.put)
            self.connected = True
            helpers = [
                asyncio.create_task(self._measure(connection, topology, stop)),
                asyncio.create_task(self._refresh(index, stop)),
            ]
            try:
                while not stop.is_set() and not connection.is_closed:
                    batch = await self._gather(inbox, stop)
                    if batch:
                        self.processing = len(batch)
                        try:
                            await self._process(index, topology, batch)
                        finally:
                            self.processing = 0
            finally:
                for task in helpers:
                    task.cancel()
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                await connection.close()

    async def _gather(
        self, inbox: asyncio.Queue[AbstractIncomingMessage], stop: asyncio.Event
    ) -> list[AbstractIncomingMessage]:
        try:
            first = await asyncio.wait_for(inbox.get(), 0.5)
        except TimeoutError:
            LAG_SECONDS.labels(self.name).set(0)
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_size and not stop.is_set():
            try:
                batch.append(inbox.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(inbox.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _process(self, index: str, topology: Topology, batch: list[AbstractIncomingMessage]) -> None:
        BATCH.labels(self.name).observe(len(batch))
        envelopes: list[Envelope] = []
        envelope_message: list[int] = []  # envelope index -> batch index
        markers: dict[int, int] = {}  # batch index -> marker position
        poison: dict[int, str] = {}
        for i, message in enumerate(batch):
            try:
                if message.type == "PositionMarker":
                    markers[i] = PositionMarker.model_validate_json(message.body).position
                else:
                    envelopes.append(Envelope.model_validate_json(message.body))
                    envelope_message.append(i)
            except (ValidationError, ValueError) as exc:
                poison[i] = f"malformed message: {exc}"
        started = time.perf_counter()
        result = None
        for delay in (*RETRY_DELAYS, None):
            try:
                result = await apply_batch(self.es, index, self.spec, envelopes, self.visibility)
                break
            except Exception as exc:
                if not _is_transient(exc) or delay is None:
                    if delay is None:
                        log.warning("projection %s: giving the batch back after repeated failures", self.name)
                        for message in batch:
                            await message.nack(requeue=True)
                        return
                    raise
                TRANSIENT.labels(self.name).inc()
                log.warning("projection %s: transient failure (%s); retrying in %s s", self.name, exc, delay)
                await asyncio.sleep(delay)
        assert result is not None
        BULK_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        for envelope_index, error in result.poison.items():
            poison[envelope_message[envelope_index]] = error
        early = {envelope_message[e] for e in result.early}
        first_early = min(early, default=len(batch))
        # A marker vouches for everything before it; one behind an early event goes back with it.
        held_markers = {i for i in markers if i > first_early}
        position = max((p for i, p in markers.items() if i not in held_markers), default=None)
        if envelopes:
            self.last_event_at = max(e.recorded_at for e in envelopes).isoformat()
        if position is not None and position > self.position:
            self.position = position
            await self._record_position()
            APPLIED_POSITION.labels(self.name).set(position)
        if self.early_attempts:  # messages once early and now applied (or parked) are no longer counted
            for i, message in enumerate(batch):
                if i not in early:
                    self.early_attempts.pop(self._early_key(message), None)
        if not poison and not early and not held_markers:
            await batch[-1].ack(multiple=True)  # one frame acknowledges the whole batch
            batch = []
        if early:
            # The predecessor may be on its way (disorder) or being written by a rebuild's catch-up: give it time
            # instead of spinning through the redeliveries.
            await asyncio.sleep(self._early_backoff(batch[i] for i in early))
        for i, message in enumerate(batch):
            if i in poison:
                await self._park(topology, message, poison[i])
            elif i in early and self._give_up_on_early(message):
                await self._park(topology, message, "arrived before an earlier version of its stream, which never came")
            elif i in early or i in held_markers:
                await message.nack(requeue=True)
            else:
                await message.ack()
        APPLIED.labels(self.name).inc(len(envelopes) - len(early))
        if envelopes:
            newest = max(e.recorded_at for e in envelopes)
            LAG_SECONDS.labels(self.name).set(max(0.0, (datetime.now(UTC) - newest).total_seconds()))

    async def _record_position(self) -> None:
        async with self.record_lock:  # one write at a time, so the stored pair never moves backwards
            await record_position(
                self.es,
                self.settings.elasticsearch_prefix,
                self.spec.projection,
                self.position,
                self.visible_position,
                self.last_event_at,
            )

    async def _refresh(self, index: str, stop: asyncio.Event) -> None:
        """Make applied writes searchable every REFRESH_INTERVAL_MS, and record what became visible.

        The indices are created with refresh_interval -1: the projector owns refreshing, so that it knows which
        position is searchable (`visible_position`, what the search API reports in X-Position).
        """
        interval = self.settings.refresh_interval_ms / 1000
        phase = REFRESH_PHASE.get(self.spec.projection, 0.0)
        due = next_refresh_at(time.monotonic(), interval, phase)
        while not stop.is_set():
            # A fixed cadence: a refresh that takes a while under load does not push the next one back; one that
            # overran its slot is followed by the next slot.
            now = time.monotonic()
            if due < now:
                due = next_refresh_at(now, interval, phase)
            await asyncio.sleep(due - now)
            due += interval
            if self.position <= self.visible_position:
                continue
            try:
                target = self.position
                self.visibility.refreshing()
                await self.es.indices.refresh(index=index)
                self.visible_position = target
                await self._record_position()
                VISIBLE_POSITION.labels(self.name).set(target)
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                self.visibility.created()  # not known to be searchable after all
                log.warning("projection %s: refresh failed: %s", self.name, exc)

    @staticmethod
    def _early_key(message: AbstractIncomingMessage) -> str:
        return message.message_id or str(message.delivery_tag)

    def _early_backoff(self, messages: Iterable[AbstractIncomingMessage]) -> float:
        attempts = max((self.early_attempts.get(self._early_key(m), (0, 0.0))[0] for m in messages), default=0)
        return float(min(EARLY_BACKOFF_MAX_S, EARLY_BACKOFF_S * 2**attempts))

    def _give_up_on_early(self, message: AbstractIncomingMessage) -> bool:
        """Park an early message only once it has been tried max_message_attempts times AND early_patience_s have
        passed since it was first found early: a rebuild's catch-up can keep a predecessor away for seconds."""
        key = self._early_key(message)
        now = time.monotonic()
        attempts, since = self.early_attempts.get(key, (0, now))
        attempts += 1
        if attempts >= self.settings.max_message_attempts and now - since >= self.settings.early_patience_s:
            del self.early_attempts[key]
            return True
        self.early_attempts[key] = (attempts, since)
        return False

    async def _park(self, topology: Topology, message: AbstractIncomingMessage, error: str) -> None:
        log.error("projection %s parks message %s: %s", self.name, message.message_id, error)
        headers = dict(message.headers or {})
        headers.update({"x-error": error[:2000], "x-projection": self.name})
        headers.setdefault("x-original-routing-key", message.routing_key or "")  # kept across replay-parked
        parked = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await topology.dead_letter.publish(parked, routing_key=topology.queues[self.name].name)
        await message.ack()
        PARKED_TOTAL.labels(self.name).inc()

    async def _measure(
        self, connection: aio_pika.abc.AbstractConnection, topology: Topology, stop: asyncio.Event
    ) -> None:
        channel: AbstractChannel = await connection.channel()
        while not stop.is_set():
            with contextlib.suppress(Exception):
                queue = await channel.declare_queue(topology.queues[self.name].name, passive=True)
                parked = await channel.declare_queue(topology.parked[self.name].name, passive=True)
                in_work = self.inbox.qsize() + self.processing
                LAG_EVENTS.labels(self.name).set((queue.declaration_result.message_count or 0) + in_work)
                PARKED.labels(self.name).set(parked.declaration_result.message_count or 0)
            await asyncio.sleep(2)
