"""One projection's queue, as the projector consumes it: the only code of the projector that speaks AMQP.

- One active consumer per queue (RabbitMQ's single active consumer, or an exclusive consumer on a queue an earlier
  version declared without it, see shared/messaging.py): a second projector process for the same projection waits
  as a hot standby and the broker hands it the queue when the first one's connection ends.
- Deliveries go to an inbox, tagged with the connection ("session") they came on. When the connection is lost,
  the broker requeues every unacknowledged delivery; the ones still in hand are dropped (acking them would fail:
  the channel is gone), so each is applied again when it is delivered again, which is a no-op.
- Losing RabbitMQ ends the session; the consumer reconnects with a bounded, jittered backoff. It also measures the
  queue every few seconds, and a consumer that receives nothing for STALL_S while messages wait in the queue
  reconnects too: a live process that has silently stopped consuming is the worst kind of failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractIncomingMessage
from aiormq.exceptions import ChannelAccessRefused, ChannelInvalidStateError

from projector.settings import ProjectorSettings
from shared.messaging import DEAD_LETTER_EXCHANGE, Topology, declare_topology, parked_queue_name, prefixed, queue_name
from shared.retry import Backoff

log = logging.getLogger(__name__)

BROKER_ERRORS = (OSError, aio_pika.exceptions.AMQPError, ChannelInvalidStateError, asyncio.TimeoutError)
MEASURE_S = 2.0  # how often the queue is measured
STALL_S = 30.0  # nothing delivered for this long while messages wait: reconnect


class Stalled(ConnectionError):
    """Messages wait in the queue and none has been delivered for STALL_S."""


@dataclass(frozen=True)
class Delivery:
    message: AbstractIncomingMessage
    session: int


class QueueConsumer:
    def __init__(self, settings: ProjectorSettings, projection: str) -> None:
        self.settings = settings
        self.projection = projection
        self.queue = queue_name(settings.rabbitmq_prefix, projection)
        self.inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self.session = 0
        self.connected = False
        self.waiting: int | None = None  # ready in the queue at the last measurement (None: not measured)
        self.parked: int | None = None
        self.in_hand = 0  # delivered and not yet settled by the pipeline
        self.last_delivery = time.monotonic()
        self.lost_at = time.monotonic()  # when the connection last ended (or the consumer started)
        self._dead_letter: AbstractExchange | None = None

    # ------------------------------------------------------------------------------------------- connection
    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            try:
                await self._session(stop, backoff)
                continue
            except BROKER_ERRORS as exc:
                delay = backoff.next_delay()
                what = f"{type(exc).__name__}: {exc}"
                log.warning("projection %s lost RabbitMQ (%s); reconnecting in %.1f s", self.projection, what, delay)
            except Exception:  # a bug must not end the process either: it is logged, and the consumer starts over
                delay = backoff.next_delay()
                log.exception(
                    "projection %s: consumer failed unexpectedly; starting over in %.1f s", self.projection, delay
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        connection = await aio_pika.connect(self.settings.rabbitmq_url, timeout=10)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.settings.prefetch)
            topology = await declare_topology(channel, self.settings.rabbitmq_prefix)
            publisher = await connection.channel(publisher_confirms=True)
            self._dead_letter = await publisher.declare_exchange(
                prefixed(self.settings.rabbitmq_prefix, DEAD_LETTER_EXCHANGE),
                aio_pika.ExchangeType.DIRECT,
                durable=True,
            )
            self.session += 1
            await self._consume(channel, topology, stop)
            self.connected = True
            self.last_delivery = time.monotonic()
            backoff.reset()
            log.info("projection %s consumes %s (or stands by for it)", self.projection, self.queue)
            await self._watch(connection, stop)
        finally:
            if self.connected:
                self.lost_at = time.monotonic()
            self.connected = False
            self._dead_letter = None
            with contextlib.suppress(Exception):
                await connection.close()

    async def _consume(self, channel: AbstractChannel, topology: Topology, stop: asyncio.Event) -> None:
        queue = topology.queues[self.projection]
        session = self.session

        async def deliver(message: AbstractIncomingMessage) -> None:
            self.last_delivery = time.monotonic()
            self.inbox.put_nowait(Delivery(message, session))

        if self.projection not in topology.legacy:
            await queue.consume(deliver)
            return
        while not stop.is_set():  # an exclusive consumer: whoever holds the queue, the others retry
            try:
                await queue.consume(deliver, exclusive=True)
                return
            except ChannelAccessRefused:
                await channel.reopen()
                await channel.set_qos(prefetch_count=self.settings.prefetch)
                queue = await channel.declare_queue(self.queue, passive=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1)

    async def _watch(self, connection: AbstractConnection, stop: asyncio.Event) -> None:
        """Measure the queue until the connection ends or the consumer stops; raise if it has stalled."""
        channel = await connection.channel()
        closed = asyncio.ensure_future(connection.closed())
        try:
            while not stop.is_set():
                done, _ = await asyncio.wait([closed], timeout=MEASURE_S)
                if done or connection.is_closed:
                    raise ConnectionError("the connection to RabbitMQ closed")
                await self._measure(channel)
                idle = time.monotonic() - self.last_delivery
                if self.waiting and idle > STALL_S and self.inbox.empty() and not self.in_hand:
                    raise Stalled(f"{self.waiting} messages wait and none was delivered for {idle:.0f} s")
        finally:
            closed.cancel()

    async def _measure(self, channel: AbstractChannel) -> None:
        try:
            queue = await channel.declare_queue(self.queue, passive=True)
            parked = await channel.declare_queue(
                parked_queue_name(self.settings.rabbitmq_prefix, self.projection), passive=True
            )
        except aio_pika.exceptions.ChannelClosed:
            await channel.reopen()
            raise
        self.waiting = queue.declaration_result.message_count or 0
        self.parked = parked.declaration_result.message_count or 0

    # ------------------------------------------------------------------------------------------- settling
    def current(self, delivery: Delivery) -> bool:
        """Whether a delivery can still be settled (its connection is the live one)."""
        return self.connected and delivery.session == self.session

    async def _settle(self, action: Any) -> bool:
        try:
            await action
            return True
        except BROKER_ERRORS as exc:  # the connection went: the broker requeues it, and it comes again
            log.info("projection %s: could not settle a delivery (%s)", self.projection, type(exc).__name__)
            return False

    async def ack(self, delivery: Delivery, through: bool = False) -> bool:
        """Acknowledge a delivery (with `through`, every earlier unsettled one of its session too)."""
        return await self._settle(delivery.message.ack(multiple=through))

    async def requeue(self, delivery: Delivery, through: bool = False) -> bool:
        return await self._settle(delivery.message.nack(requeue=True, multiple=through))

    async def park(self, delivery: Delivery, body: bytes, error: str) -> bool:
        """Publish a copy (the whole message, or the part of it that failed) to the parking queue with its error,
        confirmed by the broker, then acknowledge the delivery."""
        message = delivery.message
        headers = dict(message.headers or {})
        headers.update({"x-error": error[:2000], "x-projection": self.projection})
        headers.setdefault("x-original-routing-key", message.routing_key or "")  # kept across replay-parked
        parked = aio_pika.Message(
            body=body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        if self._dead_letter is None:
            return False
        if not await self._settle(self._dead_letter.publish(parked, routing_key=self.queue)):
            return False
        return await self.ack(delivery)
