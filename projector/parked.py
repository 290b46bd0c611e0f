"""`python -m projector replay-parked [projection...]`: move parked messages back to their projection's queue.

A message the projector could not apply is parked in `<prefix>projection.<name>.parked` with its error in the
`x-error` header (projector/consumer.py). Once the cause is fixed (a projection bug, a missing predecessor), this
moves each parked message back: published to the default exchange with the projection's queue as routing key,
persistent, without the parking headers, and confirmed by the broker before it is acked in the parking queue (so
a crash in between duplicates a message rather than losing it; the projector is idempotent).

Only as many messages as the parking queue held at the start are moved, so a message that fails again and is
parked again is not moved a second time in the same run.
"""

from __future__ import annotations

import sys
from typing import Any

import aio_pika

from projector.projections import ProjectionSpec
from projector.settings import ProjectorSettings
from shared.messaging import parked_queue_name, queue_name

# Headers the projector or the broker adds when a message is parked or dead-lettered.
PARKING_HEADERS = frozenset(
    {
        "x-projection",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)


def unparked_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (headers or {}).items() if not k.startswith("x-error") and k not in PARKING_HEADERS}


async def replay_queue(connection: aio_pika.abc.AbstractConnection, prefix: str, projection: str) -> int | None:
    """Move the messages parked for one projection back to its queue; None if its queues are not declared."""
    target = queue_name(prefix, projection)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        try:
            await channel.declare_queue(target, passive=True)
            parked = await channel.declare_queue(parked_queue_name(prefix, projection), passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        moved = 0
        for _ in range(parked.declaration_result.message_count or 0):
            message = await parked.get(no_ack=False, fail=False)
            if message is None:
                break
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body=message.body,
                    headers=unparked_headers(message.headers),
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    message_id=message.message_id,
                    type=message.type,
                    timestamp=message.timestamp,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=target,
                mandatory=True,
            )
            await message.ack()
            moved += 1
        return moved
    finally:
        if not channel.is_closed:
            await channel.close()


async def replay_parked(settings: ProjectorSettings, specs: list[ProjectionSpec]) -> int:
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        for spec in specs:
            name = spec.projection.value
            moved = await replay_queue(connection, settings.rabbitmq_prefix, name)
            if moved is None:
                sys.stdout.write(f"{name}: queues not declared (has the projector run?)\n")
            else:
                sys.stdout.write(
                    f"{name}: moved {moved} parked messages back to {queue_name(settings.rabbitmq_prefix, name)}\n"
                )
            sys.stdout.flush()
    finally:
        await connection.close()
    return 0
