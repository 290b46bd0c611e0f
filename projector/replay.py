"""The event store as a rebuild and `verify` read it: whole transactions in read order (shared/event_log.py), each
decoded from the very message body the relay would publish for it, so that they fold exactly the events -- in the
same shape -- that the live projector receives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from shared.event_log import START, ReadPosition, read_transactions
from shared.events.envelope import Envelope
from shared.events.messages import TRANSACTION, decode, transaction_body

READ_BATCH = 1000


@dataclass
class StoreBatch:
    events: list[Envelope]  # of the topics asked for, in read order
    unreadable: list[str]  # events of those topics that could not be read: why
    checkpoint: ReadPosition  # read position of the last event read so far
    watermark: int  # every transaction with id <= watermark has been read


async def store_batches(
    conn: asyncpg.Connection, topics: frozenset[str], after: ReadPosition = START, limit: int = READ_BATCH
) -> AsyncIterator[StoreBatch]:
    """The store's committed transactions after `after`, batch by batch, up to the head."""
    while True:
        batch = await read_transactions(conn, after, limit)
        events: list[Envelope] = []
        unreadable: list[str] = []
        for transaction in batch.transactions:
            decoded = decode(TRANSACTION, transaction_body(transaction), topics)
            events += decoded.events
            unreadable += [f"{raw.get('event_id')}: {error}" for raw, error in decoded.unreadable]
        after = batch.checkpoint or after
        yield StoreBatch(events, unreadable, after, batch.watermark)
        if not batch.full:
            return
