"""The message envelope the relay publishes and the projector consumes (DESIGN.md "Messages")."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: UUID
    stream_id: str
    stream_type: str
    version: int
    global_position: int
    # Id of the writing transaction: with global_position, the read side's order (see write_api/event_store/queries.py).
    transaction_id: int
    event_type: str
    schema_version: int
    recorded_at: datetime
    data: dict[str, Any]
    metadata: dict[str, Any]


class PositionMarker(BaseModel):
    """Sent by the relay after each published batch: every transaction with id <= position has been published.

    Projections record the position of the last marker they have applied; that is the read side's position that
    `min_position` and `X-Position` speak of.
    """

    position: int
