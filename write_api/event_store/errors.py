"""Event-store errors. Driver errors are translated into these in exactly one place (store.py)."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base class of event-store errors."""


class WrongExpectedVersion(EventStoreError):
    """A stream was not at the version the writer expected: someone else appended first (or the stream is new)."""

    def __init__(self, stream_id: str, expected: int, actual: int | None = None) -> None:
        super().__init__(
            f"stream {stream_id} is not at version {expected}" + ("" if actual is None else f" (at {actual})")
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class DuplicateEvent(EventStoreError):
    """An event id that is in the store already (event ids are unique across all streams)."""

    def __init__(self, event_ids: list[str]) -> None:
        super().__init__(f"event id(s) already stored: {', '.join(event_ids)}")
        self.event_ids = event_ids


class IdempotencyKeyTaken(EventStoreError):
    """Another request with the same Idempotency-Key committed first."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was recorded by a concurrent request")
        self.key = key
