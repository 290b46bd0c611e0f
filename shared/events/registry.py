"""The explicit registry of event types: stable type string -> payload class."""

from __future__ import annotations

from typing import Any

from shared.events.payloads import INVENTORY_EVENTS, ORDER_EVENTS, PRODUCT_EVENTS, EventPayload
from shared.events.upcasting import upcast

EVENT_TYPES: dict[str, type[EventPayload]] = {
    cls.TYPE: cls for cls in (*PRODUCT_EVENTS, *INVENTORY_EVENTS, *ORDER_EVENTS)
}


class UnknownEventType(KeyError):
    """The store or a message holds an event type this code does not know."""


def decode(event_type: str, schema_version: int, data: dict[str, Any]) -> EventPayload:
    """Payload of a stored or received event, upcast to the current schema version."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(event_type)
    return cls.model_validate(upcast(event_type, schema_version, data, cls.SCHEMA_VERSION))
