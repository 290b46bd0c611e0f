"""Applies a batch of events to one projection's documents: group by unit, load, fold, one bulk write.

The projection (projector/projections/) decides what the documents look like; this is the I/O around it. Events of
one unit are folded together in read order, so all changes to one document in a batch become one write. A write
that loses to another writer (a conflict) makes its unit load and fold again, up to MAX_CONFLICT_ROUNDS times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError as EsApiError
from prometheus_client import Counter

from projector.documents import DocumentStore, TransientError
from projector.projections import Document, Folded, ProjectionSpec
from shared.events.envelope import Envelope

log = logging.getLogger(__name__)

TRANSIENT = Counter("projection_transient_errors_total", "Batches retried after a transient failure", ["projection"])

MAX_CONFLICT_ROUNDS = 10
MAX_LOAD_ROUNDS = 3  # a fold may ask for more documents (a rename: every row of the SKU) before it can finish


@dataclass
class Applied:
    """Per event of the batch (by index): what could not be applied now."""

    early: set[int] = field(default_factory=set)  # arrived before its predecessor
    poison: dict[int, str] = field(default_factory=dict)  # cannot be applied: the error
    sequences: dict[int, tuple[str, int]] = field(default_factory=dict)  # its sequence and number in it
    written: int = 0  # documents written


def units(spec: ProjectionSpec, events: list[Envelope]) -> dict[str, list[tuple[int, Envelope]]]:
    """The projection's events by unit, each unit's in read order (a batch holds messages in queue order)."""
    grouped: dict[str, list[tuple[int, Envelope]]] = {}
    for index, event in enumerate(events):
        unit = spec.unit_of(event)
        if unit is not None:
            grouped.setdefault(unit, []).append((index, event))
    for unit_events in grouped.values():
        unit_events.sort(key=lambda item: (item[1].transaction_id, item[1].global_position))
    return grouped


async def fold_loaded(
    store: DocumentStore, spec: ProjectionSpec, unit: str, events: list[tuple[int, Envelope]]
) -> Folded:
    """Load the unit's documents and fold its events, loading what the fold asks for too."""
    ids = spec.documents(unit, [e for _, e in events])
    for _ in range(MAX_LOAD_ROUNDS):
        docs = await store.load(ids)
        folded = spec.fold(unit, docs, events)
        if not folded.needs:
            return folded
        ids = [*ids, *folded.needs]
    raise TransientError(f"unit {unit} kept asking for more documents: {folded.needs}")


async def apply_events(store: DocumentStore, spec: ProjectionSpec, events: list[Envelope]) -> Applied:
    result = Applied()
    todo = units(spec, events)
    for _ in range(MAX_CONFLICT_ROUNDS):
        if not todo:
            return result
        folds = {unit: await fold_loaded(store, spec, unit, unit_events) for unit, unit_events in todo.items()}
        changed: dict[str, Document] = {}
        owner: dict[str, str] = {}
        for unit, folded in folds.items():
            changed.update(folded.changed)
            owner.update(dict.fromkeys(folded.changed, unit))
        outcome = await store.write(changed)
        conflicted = {owner[doc_id] for doc_id in outcome.conflicts}
        for unit, folded in folds.items():
            if unit in conflicted:
                continue
            result.early |= folded.early
            result.poison.update(folded.poison)
            result.sequences.update(folded.sequences)
            result.written += len(folded.changed)
            rejected = [outcome.rejected[d] for d in folded.changed if d in outcome.rejected]
            if rejected:
                for index, _event in todo[unit]:
                    if index not in folded.early:
                        result.poison[index] = rejected[0]
        for unit in conflicted:  # lost to another writer: read the unit's documents again, fold again
            store.forget(set(spec.documents(unit, [e for _, e in todo[unit]])) | set(folds[unit].changed))
        todo = {unit: todo[unit] for unit in conflicted}
    raise TransientError("documents kept conflicting with concurrent writers")


def is_transient(exc: BaseException) -> bool:
    """An Elasticsearch failure that retrying may cure: unreachable, overloaded, an index being swapped."""
    if isinstance(exc, TransientError | EsConnectionError | ConnectionTimeout):
        return True
    return isinstance(exc, EsApiError) and (exc.meta.status == 429 or exc.meta.status >= 500)


async def apply_with_retries(
    store: DocumentStore, spec: ProjectionSpec, events: list[Envelope], delays: Iterable[float]
) -> Applied:
    """apply_events, tried again after each delay while the failure is transient; the last failure is raised."""
    for delay in delays:
        try:
            return await apply_events(store, spec, events)
        except Exception as exc:
            if not is_transient(exc):
                raise
            TRANSIENT.labels(spec.projection.value).inc()
            log.warning("%s: transient failure (%s); retrying in %s s", spec.projection.value, exc, delay)
            await asyncio.sleep(delay)
    return await apply_events(store, spec, events)
