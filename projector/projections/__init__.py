"""Pure projections: (current document, event) -> new document. No I/O.

Each projection names which document an event feeds and how the event changes that document (the routing keys
it needs live in shared/messaging.py). The engine (projector/engine.py) does the I/O: fetch, fold, one bulk
write with optimistic concurrency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.events.envelope import Envelope
from shared.read_models import Projection

Document = dict[str, Any]


@dataclass(frozen=True)
class ProjectionSpec:
    projection: Projection
    # The id of the document an event feeds, or None if this projection ignores the event.
    document_id: Callable[[Envelope], str | None]
    # The document after the event (None in, for a document that does not exist yet).
    apply: Callable[[Document | None, Envelope], Document | None]
