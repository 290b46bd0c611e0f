"""The message contract between the relay and the projector (README "Decisions": one message per transaction).

Three shapes, told apart by the AMQP `type` property:
- `Transaction`: one committed transaction, `{"transaction_id": T, "position": T | null, "events": [envelope...]}`,
  its events in read order. `position` says "every transaction with id <= position has been published, this one
  included"; it is null only on a part of a transaction too large for one read (the last part carries it).
- `PositionMarker`: `{"position": W}`, the same promise for a projection that received none of the latest
  transactions.
- Any other type: a message of the previous contract, one event's envelope per message (still read, so that
  messages already on a queue during an upgrade are applied).

The envelope's fields are shared/events/envelope.py's. A message's events are parsed into envelopes only for the
topics a projection folds (shared/messaging.py): the rest of a transaction is skipped unread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from shared.event_log import CommittedTransaction
from shared.events.envelope import Envelope
from shared.messaging import wanted

TRANSACTION = "Transaction"
MARKER = "PositionMarker"


class MalformedMessage(ValueError):
    """A body that is not one of the three shapes."""


def transaction_body(transaction: CommittedTransaction) -> bytes:
    """The message of a transaction read from the store: its envelopes are already JSON (written by PostgreSQL)."""
    position = str(transaction.transaction_id).encode() if transaction.complete else b"null"
    return (
        b'{"transaction_id":'
        + str(transaction.transaction_id).encode()
        + b',"position":'
        + position
        + b',"events":'
        + transaction.envelopes
        + b"}"
    )


def transaction_message_id(transaction: CommittedTransaction) -> str:
    suffix = "" if transaction.complete else f"@{transaction.last.global_position}"
    return f"tx-{transaction.transaction_id}{suffix}"


def marker_body(position: int) -> bytes:
    return orjson.dumps({"position": position})


@dataclass
class Decoded:
    """What a message says to a projection: its events of the stream types the projection folds (in order, or the
    error that made one unreadable), and the position it vouches for (None: none)."""

    events: list[Envelope] = field(default_factory=list)
    # Events of those stream types that could not be read: (the raw event, the error)
    unreadable: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    position: int | None = None


def _load(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON: {exc}") from exc


def _envelopes(raw_events: list[Any], topics: frozenset[str], decoded: Decoded) -> None:
    for raw in raw_events:
        if not isinstance(raw, dict):
            decoded.unreadable.append(({"event": raw}, "an event is not a JSON object"))
            continue
        if not wanted(topics, str(raw.get("stream_type")), str(raw.get("event_type"))):
            continue
        try:
            decoded.events.append(Envelope.model_validate(raw))
        except ValidationError as exc:
            decoded.unreadable.append((raw, f"malformed event envelope: {exc}"))


def decode(message_type: str | None, body: bytes, topics: frozenset[str]) -> Decoded:
    """The events a projection with these topics (shared/messaging.py) folds and the position a message carries;
    MalformedMessage if its body is unreadable."""
    data = _load(body)
    if not isinstance(data, dict):
        raise MalformedMessage("the body is not a JSON object")
    decoded = Decoded()
    if message_type == MARKER:
        position = data.get("position")
        if not isinstance(position, int) or isinstance(position, bool):
            raise MalformedMessage("a position marker without an integer position")
        decoded.position = position
    elif message_type == TRANSACTION:
        events, position = data.get("events"), data.get("position")
        if not isinstance(events, list) or not (position is None or isinstance(position, int)):
            raise MalformedMessage("a transaction message without an events list or with a bad position")
        _envelopes(events, topics, decoded)
        decoded.position = position
    else:  # the previous contract: one event per message
        _envelopes([data], topics, decoded)
    return decoded


def reduced_body(events: list[dict[str, Any]], transaction_id: int | None) -> bytes:
    """A transaction message holding only some events, vouching for no position: what is parked or retried when
    part of a message could not be applied."""
    return orjson.dumps({"transaction_id": transaction_id, "position": None, "events": events})
