"""Broker names and topology, shared by the relay (which declares it before publishing anything, so that no event
is published before the read side's queues exist) and the projector (which consumes it)."""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

EXCHANGE = "events"
DEAD_LETTER_EXCHANGE = "events.dead-letter"
# Routing key of the relay's position markers; every projection queue binds it.
POSITION_ROUTING_KEY = "position.marker"

# Projection queue -> routing keys (`<stream_type>.<event_type>`) it needs.
PROJECTION_BINDINGS: dict[str, tuple[str, ...]] = {
    "products": ("product.*", "inventory.*"),
    "inventory": ("product.*", "inventory.*"),
    "orders": ("order.*",),
}


def routing_key(stream_type: str, event_type: str) -> str:
    return f"{stream_type}.{event_type}"


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


async def declare_topology(channel: AbstractChannel, prefix: str) -> Topology:
    """Declare (idempotently) the events exchange, and per projection a durable queue and its parking queue."""
    events = await channel.declare_exchange(prefixed(prefix, EXCHANGE), aio_pika.ExchangeType.TOPIC, durable=True)
    dead_letter = await channel.declare_exchange(
        prefixed(prefix, DEAD_LETTER_EXCHANGE), aio_pika.ExchangeType.DIRECT, durable=True
    )
    queues: dict[str, AbstractQueue] = {}
    parked: dict[str, AbstractQueue] = {}
    for projection, keys in PROJECTION_BINDINGS.items():
        name = queue_name(prefix, projection)
        parked[projection] = await channel.declare_queue(parked_queue_name(prefix, projection), durable=True)
        await parked[projection].bind(dead_letter, routing_key=name)
        # A message rejected without requeue is dead-lettered to the parking queue too (the consumer normally
        # parks explicitly, with the error in a header).
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={"x-dead-letter-exchange": dead_letter.name, "x-dead-letter-routing-key": name},
        )
        for key in (*keys, POSITION_ROUTING_KEY):
            await queue.bind(events, routing_key=key)
        queues[projection] = queue
    return Topology(events, dead_letter, queues, parked)
