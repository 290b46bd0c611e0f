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
    # Documents that also take events of a stream they share a key with: every existing document whose `sku`
    # field equals fan_out(event) receives the event too (a renamed product -> each of its stock rows).
    fan_out: Callable[[Envelope], str | None] | None = None
    # The document a document is derived from (a stock row from its product's header), handed to
    # apply_in_context; a new document starts from its context's stream versions.
    context_id: Callable[[str], str | None] | None = None
    apply_in_context: Callable[[Document | None, Envelope, Document | None], Document | None] | None = None
    # Stream types of which a document sees only some events (a stock row sees its own warehouse's events of the
    # SKU's inventory stream): there a version jump is not a gap. Duplicates are still skipped.
    partial_stream_types: frozenset[str] = frozenset()
    # Exactly one stream feeds each document (an order): written with external versioning instead of if_seq_no.
    single_stream: bool = False
    # Which sequence an event belongs to in a document's version map, its number there, and whether a jump in it
    # is normal (partial); by default the event's stream and stream version.
    sequence: Callable[[Envelope], tuple[str, int]] | None = None

    def version_of(self, event: Envelope) -> tuple[str, int, bool]:
        if self.sequence is not None:
            key, version = self.sequence(event)
            if key != event.stream_id:  # a sequence of its own is complete by construction
                return key, version, False
        return event.stream_id, event.version, event.stream_type in self.partial_stream_types
