"""Pure projections: a unit's documents and its events -> the unit's new documents. No I/O.

A projection groups the events it folds into units (products and inventory: a SKU; orders: an order), and folds
each unit's events, in read order, into the unit's documents (a product and its stock; a SKU's stock rows and their
header; an order). The engine (projector/apply.py) loads the documents, calls `fold`, and writes what changed in one
bulk request; everything that decides what a document looks like is here.

Idempotent and order-safe: each document keeps `stream_versions` (sequence -> last version applied). An event at or
below it was applied already (a redelivery, a relay replay) and is skipped; one further ahead than the next version
arrived before its predecessor and is handed back ("early") to be delivered again later, with every later event of
its sequence in the batch. An event the projection cannot apply is "poison": handed back to be parked, and its
sequence blocked for the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.events.envelope import Envelope
from shared.read_models import Projection

Document = dict[str, Any]
Documents = dict[str, Document | None]  # id -> document (None: none yet)


@dataclass
class Folded:
    """What folding a unit's events gave."""

    changed: dict[str, Document] = field(default_factory=dict)  # documents to write
    early: set[int] = field(default_factory=set)  # event indexes
    poison: dict[int, str] = field(default_factory=dict)  # event index -> error
    sequences: dict[int, tuple[str, int]] = field(default_factory=dict)  # event index -> (its sequence, number)
    needs: list[str] = field(default_factory=list)  # documents to load before folding again


@dataclass(frozen=True)
class ProjectionSpec:
    projection: Projection
    # The events it folds: stream types and event types (shared/messaging.py PROJECTION_TOPICS routes them here).
    topics: frozenset[str]
    # The unit an event belongs to (None: the projection ignores it).
    unit_of: Callable[[Envelope], str | None]
    # The documents to load for a unit's events before folding.
    documents: Callable[[str, list[Envelope]], list[str]]
    # (unit, loaded documents, events with their batch index) -> Folded. Pure.
    fold: Callable[[str, Documents, list[tuple[int, Envelope]]], Folded]
    # Exactly one stream feeds each document (an order): written with external versioning instead of if_seq_no.
    single_stream: bool = False


class Sequences:
    """The per-sequence bookkeeping of one document while a unit is folded: duplicates, gaps, blocked sequences."""

    def __init__(self, doc: Document | None) -> None:
        self.versions: dict[str, int] = dict((doc or {}).get("stream_versions", {}))
        self.changed = False

    def admit(self, key: str, version: int, blocked: set[str], *, partial: bool = False, states: bool = False) -> str:
        """'apply', 'duplicate' or 'early' (blocked sequences stay blocked: their later events are early too).
        `partial`: the document sees only some events of the sequence, so a jump is no gap. `states`: each event
        says the whole state, so the newest wins: a jump is no gap, and a poison before it blocks nothing."""
        applied = self.versions.get(key, 0)
        if version <= applied:
            return "duplicate"
        if states:
            return "apply"
        if key in blocked or (version > applied + 1 and not partial):
            blocked.add(key)
            return "early"
        return "apply"

    def applied(self, key: str, version: int) -> None:
        self.versions[key] = version
        self.changed = True


class UnitFold(Protocol):
    """One unit's documents while its events are folded into them."""

    def admit(self, event: Envelope, blocked: set[str]) -> tuple[str, str, int]:
        """(verdict of Sequences.admit, sequence, version) for the event."""
        ...

    def apply(self, event: Envelope) -> None:
        """Apply an admitted event; raise to make it poison."""
        ...

    def finish(self, folded: Folded) -> None:
        """Put the changed documents (and any documents still to load) into `folded`."""
        ...


def fold_unit(unit: UnitFold, events: list[tuple[int, Envelope]]) -> Folded:
    """The loop every projection's fold runs: an applied event goes to the unit, one that is early is handed back,
    one the unit cannot apply becomes poison and blocks its sequence for the rest of the batch."""
    folded = Folded()
    blocked: set[str] = set()
    for index, event in events:
        verdict, key, version = unit.admit(event, blocked)
        folded.sequences[index] = (key, version)
        if verdict == "early":
            folded.early.add(index)
        elif verdict == "apply":
            try:
                unit.apply(event)
            except Exception as exc:  # noqa: BLE001 - a projection bug or a bad payload: park this event, go on
                folded.poison[index] = f"{type(exc).__name__}: {exc}"
                blocked.add(key)
    unit.finish(folded)
    return folded


def with_versions(doc: Document, sequences: Sequences, event: Envelope) -> Document:
    """The document after an applied event: its sequence versions and the highest transaction applied."""
    return {
        **doc,
        "stream_versions": dict(sequences.versions),
        "position": max(event.transaction_id, int(doc.get("position", 0))),
    }
