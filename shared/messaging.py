"""Broker names, routing and topology, shared by the relay (which declares the topology before publishing anything,
so that no message is published before the read side's queues exist) and the projector (which consumes it).

Routing (the message shapes are in shared/events/messages.py):
- A committed transaction is one message, routed by its *topics*: the stream types and the event types it holds,
  `tx.<stream types, sorted>.<event types, sorted>` (e.g. `tx.inventory.order.OrderPlaced.StockReserved`). A
  projection subscribes to topics (PROJECTION_TOPICS: whole stream types, lower case, or single event types,
  CamelCase) and its queue binds `tx.#.<topic>.#` for each, so a message reaches every projection that needs any
  of its events, once per queue, and no other: the products projection takes the product streams and an
  inventory's StockAvailabilityChanged, not the reservations of every order.
- A position marker for one projection is routed `marker.<projection>`: the relay sends one only to a projection
  that received none of the latest transactions (DESIGN.md: a projection must learn it is past a write it never saw).
- Bindings of the previous message contract (`<stream_type>.*` per event, `position.marker`) are kept, so that a
  relay of the previous version still running during an upgrade reaches the queues; nothing publishes them now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from pamqp.common import Arguments

log = logging.getLogger(__name__)

EXCHANGE = "events"
DEAD_LETTER_EXCHANGE = "events.dead-letter"

# Projection -> its topics: the stream types (lower case) whose every event it folds, and single event types
# (CamelCase) it folds of other streams.
PROJECTION_TOPICS: dict[str, frozenset[str]] = {
    "products": frozenset({"product", "StockAvailabilityChanged"}),
    "inventory": frozenset({"product", "inventory"}),
    "orders": frozenset({"order"}),
}
# Routing keys of the previous contract (one event per message), still bound: see the module's docstring.
LEGACY_BINDINGS: dict[str, tuple[str, ...]] = {
    "products": ("product.*", "inventory.*"),
    "inventory": ("product.*", "inventory.*"),
    "orders": ("order.*",),
}
LEGACY_MARKER_KEY = "position.marker"


def wanted(topics: frozenset[str], stream_type: str, event_type: str) -> bool:
    """Whether a projection with these topics folds an event of this stream type and event type."""
    return stream_type in topics or event_type in topics


def transaction_routing_key(stream_types: Iterable[str], event_types: Iterable[str]) -> str:
    return ".".join(("tx", *sorted(set(stream_types)), *sorted(set(event_types))))


def marker_routing_key(projection: str) -> str:
    return f"marker.{projection}"


def projections_of(stream_types: Iterable[str], event_types: Iterable[str]) -> list[str]:
    """The projections a transaction with events of these stream and event types reaches."""
    topics = {*stream_types, *event_types}
    return [p for p, subscribed in PROJECTION_TOPICS.items() if topics.intersection(subscribed)]


def bindings(projection: str) -> list[str]:
    topics = sorted(PROJECTION_TOPICS[projection])
    legacy = [*LEGACY_BINDINGS[projection], LEGACY_MARKER_KEY]
    return [*(f"tx.#.{t}.#" for t in topics), marker_routing_key(projection), *legacy]


def prefixed(prefix: str, name: str) -> str:
    return f"{prefix}{name}" if prefix else name


def queue_name(prefix: str, projection: str) -> str:
    return prefixed(prefix, f"projection.{projection}")


def parked_queue_name(prefix: str, projection: str) -> str:
    return queue_name(prefix, projection) + ".parked"


@dataclass
class Topology:
    events: AbstractExchange
    dead_letter: AbstractExchange
    queues: dict[str, AbstractQueue]
    parked: dict[str, AbstractQueue]
    # Queues declared by an earlier version without x-single-active-consumer (RabbitMQ cannot add that argument to
    # an existing queue): consumed with an exclusive consumer instead, the same one-consumer-at-a-time guarantee.
    legacy: set[str]


async def _declare_projection_queue(
    channel: AbstractChannel, name: str, dead_letter: AbstractExchange
) -> tuple[AbstractQueue, bool]:
    """The projection's queue with a single active consumer; (queue, True) if it exists without one."""
    arguments: Arguments = {
        "x-dead-letter-exchange": dead_letter.name,
        "x-dead-letter-routing-key": name,
        "x-single-active-consumer": True,
    }
    try:
        return await channel.declare_queue(name, durable=True, arguments=arguments), False
    except aio_pika.exceptions.ChannelPreconditionFailed:
        log.warning("queue %s was declared without a single active consumer: consumed exclusively instead", name)
        await channel.reopen()
        return await channel.declare_queue(name, passive=True), True


async def declare_topology(channel: AbstractChannel, prefix: str) -> Topology:
    """Declare (idempotently) the events exchange, and per projection a durable queue and its parking queue."""
    events = await channel.declare_exchange(prefixed(prefix, EXCHANGE), aio_pika.ExchangeType.TOPIC, durable=True)
    dead_letter = await channel.declare_exchange(
        prefixed(prefix, DEAD_LETTER_EXCHANGE), aio_pika.ExchangeType.DIRECT, durable=True
    )
    topology = Topology(events, dead_letter, {}, {}, set())
    for projection in PROJECTION_TOPICS:
        name = queue_name(prefix, projection)
        parked = await channel.declare_queue(parked_queue_name(prefix, projection), durable=True)
        await parked.bind(dead_letter, routing_key=name)
        # A message rejected without requeue is dead-lettered to the parking queue too (the consumer normally
        # parks explicitly, with the error in a header).
        queue, legacy = await _declare_projection_queue(channel, name, dead_letter)
        for key in bindings(projection):
            await queue.bind(events, routing_key=key)
        topology.queues[projection], topology.parked[projection] = queue, parked
        if legacy:
            topology.legacy.add(projection)
    return topology
