"""The relay's AMQP messages: a committed transaction and a position marker (shared/events/messages.py)."""

from __future__ import annotations

import aio_pika

from shared.event_log import CommittedTransaction
from shared.events.messages import MARKER, TRANSACTION, marker_body, transaction_body, transaction_message_id


def transaction_message(transaction: CommittedTransaction) -> aio_pika.Message:
    return aio_pika.Message(
        body=transaction_body(transaction),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=transaction_message_id(transaction),
        type=TRANSACTION,
        correlation_id=transaction.correlation_ids[0] if len(transaction.correlation_ids) == 1 else None,
    )


def marker_message(position: int) -> aio_pika.Message:
    return aio_pika.Message(
        body=marker_body(position),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        type=MARKER,
    )
