"""Publishing as the relay would (or as a misbehaving network, or a relay of the previous version, would): for the
projector's fault tests. Transactions are read from the store with the relay's own read (shared/event_log.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson

from shared.event_log import START, connect, read_transactions
from shared.events.messages import MARKER, TRANSACTION, marker_body
from shared.messaging import (
    LEGACY_MARKER_KEY,
    PROJECTION_TOPICS,
    declare_topology,
    marker_routing_key,
    queue_name,
    transaction_routing_key,
)


@dataclass(frozen=True)
class StoredTransaction:
    transaction_id: int
    events: list[dict[str, Any]]  # envelopes, in read order

    @property
    def streams(self) -> set[str]:
        return {e["stream_id"] for e in self.events}

    @property
    def stream_types(self) -> set[str]:
        return {e["stream_type"] for e in self.events}

    @property
    def event_types(self) -> set[str]:
        return {e["event_type"] for e in self.events}


async def store_transactions(database_url: str) -> list[StoredTransaction]:
    """Every committed transaction, whole, in read order, with the envelopes the relay publishes."""
    conn = await connect(database_url)
    try:
        found: list[StoredTransaction] = []
        after = START
        while True:
            batch = await read_transactions(conn, after, 5000)
            for transaction in batch.transactions:
                events = orjson.loads(transaction.envelopes)
                if found and found[-1].transaction_id == transaction.transaction_id:  # a part of a large one
                    found[-1].events.extend(events)
                else:
                    found.append(StoredTransaction(transaction.transaction_id, events))
            after = batch.checkpoint or after
            if not batch.full:
                return found
    finally:
        await conn.close()


def _marker(position: int) -> aio_pika.Message:
    return aio_pika.Message(marker_body(position), type=MARKER, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)


@dataclass
class Publisher:
    connection: aio_pika.abc.AbstractConnection
    channel: aio_pika.abc.AbstractChannel
    exchange: aio_pika.abc.AbstractExchange
    prefix: str

    @classmethod
    async def open(cls, rabbitmq_url: str, prefix: str) -> Publisher:
        connection = await aio_pika.connect(rabbitmq_url)
        channel = await connection.channel(publisher_confirms=True)
        topology = await declare_topology(channel, prefix)
        return cls(connection, channel, topology.events, prefix)

    async def transactions(
        self, transactions: list[StoredTransaction], *, vouch: bool, to_queue: str | None = None
    ) -> None:
        """One message per transaction (confirmed), to the events exchange or straight to one projection's queue.
        `vouch`: the message carries its position, as the relay's do when it publishes in read order."""
        sends = []
        for transaction in transactions:
            body = {
                "transaction_id": transaction.transaction_id,
                "position": transaction.transaction_id if vouch else None,
                "events": transaction.events,
            }
            message = aio_pika.Message(
                orjson.dumps(body),
                type=TRANSACTION,
                message_id=f"tx-{transaction.transaction_id}",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            if to_queue is None:
                key = transaction_routing_key(transaction.stream_types, transaction.event_types)
                sends.append(self.exchange.publish(message, key))
            else:
                sends.append(self.channel.default_exchange.publish(message, queue_name(self.prefix, to_queue)))
        await asyncio.gather(*sends)

    async def marker(self, position: int) -> None:
        """A marker to every projection, as the relay sends one to each that received none of the latest."""
        for projection in PROJECTION_TOPICS:
            message = aio_pika.Message(
                marker_body(position), type=MARKER, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await self.exchange.publish(message, marker_routing_key(projection))

    async def legacy_events(self, events: list[dict[str, Any]]) -> None:
        """Messages of the previous contract: one event each, routed `<stream type>.<event type>`."""
        for event in events:
            message = aio_pika.Message(
                orjson.dumps(event),
                type=event["event_type"],
                message_id=event["event_id"],
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await self.exchange.publish(message, f"{event['stream_type']}.{event['event_type']}")

    async def legacy_marker(self, position: int) -> None:
        await self.exchange.publish(_marker(position), LEGACY_MARKER_KEY)

    async def close(self) -> None:
        await self.connection.close()
