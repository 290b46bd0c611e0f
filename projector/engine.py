"""Applies a batch of events to one projection's documents: fetch, fold, one bulk write, optimistic concurrency.

Idempotent and order-safe: every document keeps a map `stream_versions` (stream id -> last applied version). An
event at or below that version was applied already (a redelivery or a relay replay) and is skipped; an event
further ahead than the next version has arrived before its predecessor and is handed back for a later retry.
Documents are written with `if_seq_no`/`if_primary_term` (or `create` when new), so two writers of the same
document never overwrite each other: the loser re-reads and folds again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import AsyncElasticsearch

from projector.projections import Document, ProjectionSpec
from shared.events.envelope import Envelope

log = logging.getLogger(__name__)

MAX_CONFLICT_ROUNDS = 10


@dataclass
class BatchResult:
    # Index in the batch -> error text: poison events to park.
    poison: dict[int, str] = field(default_factory=dict)
    # Indexes of events that arrived before their predecessor: to be delivered again later.
    early: set[int] = field(default_factory=set)
    written: int = 0


class TransientError(Exception):
    """Elasticsearch could not take the write now (unavailable, overloaded): retry the batch later."""


@dataclass
class _Pending:
    events: list[tuple[int, Envelope]]
    doc: Document | None = None
    seq_no: int | None = None
    primary_term: int | None = None


def fold(
    spec: ProjectionSpec,
    doc: Document | None,
    events: list[tuple[int, Envelope]],
    result: BatchResult,
    context: Document | None = None,
) -> tuple[Document | None, bool]:
    """Apply events in order to a document; returns the new document and whether it changed."""
    if doc is not None:
        versions: dict[str, int] = dict(doc.get("stream_versions", {}))
    else:  # a document derived from another starts where that one is
        versions = dict(context.get("stream_versions", {})) if context else {}
    blocked: set[str] = set()
    changed = False
    for index, event in events:
        key, version, partial = spec.version_of(event)
        applied = versions.get(key, 0)
        if version <= applied:
            continue  # duplicate
        jump = version > applied + 1 and not partial
        if jump or key in blocked:
            result.early.add(index)
            blocked.add(key)
            continue
        try:
            if spec.apply_in_context is not None:
                new = spec.apply_in_context(doc, event, context)
            else:
                new = spec.apply(doc, event)
        except Exception as exc:  # noqa: BLE001 - a projection bug or bad payload: park this event, go on
            result.poison[index] = f"{type(exc).__name__}: {exc}"
            blocked.add(key)
            continue
        versions[key] = version
        if new is not None:
            doc = {
                **new,
                "stream_versions": versions,
                "position": max(event.transaction_id, int(new.get("position", 0))),
            }
            changed = True
    return doc, changed


AFTER_SWAP_S = 60.0


class SearchVisibility:
    """Whether a fan-out search may miss documents, i.e. whether it must refresh the index first.

    A refresh waits in Elasticsearch's refresh queue (one thread on a 2-core node), behind every other refresh: under
    load that cost the inventory projection most of each batch. A fan-out search can only miss documents created
    since the index's last refresh, so the live consumer tracks that: it marks the creations it writes of documents
    a fan-out may have to find (`created`; stock rows, not headers) and clears the mark just before each of its
    refreshes (`refreshing`). Documents it did not write itself -- a rebuild writing its new index before and just
    after the alias swap -- are covered by refreshing on every fan-out for `after_swap_s` once the index behind the
    alias changes.
    """

    def __init__(
        self, after_swap_s: float = AFTER_SWAP_S, indices: list[str] | None = None, index_age_s: float | None = None
    ) -> None:
        """`indices`: what the alias pointed at when the consumer started; `index_age_s`: how old that index is, if
        another process may have created it (a rebuild that swapped it in moments ago may still be writing it).
        Without them, the first fan-out's reading of the alias counts as a swap."""
        self.after_swap_s = after_swap_s
        self.unrefreshed_creations = True
        self.indices: list[str] | None = sorted(indices) if indices else None
        self.refresh_every_time_until = 0.0
        if index_age_s is not None and index_age_s < after_swap_s:
            self.refresh_every_time_until = time.monotonic() + after_swap_s - index_age_s

    def created(self) -> None:
        self.unrefreshed_creations = True

    def refreshing(self) -> None:
        self.unrefreshed_creations = False

    async def must_refresh(self, es: AsyncElasticsearch, alias: str) -> bool:
        indices = sorted((await es.indices.get_alias(name=alias)).body)
        if indices != self.indices:
            self.indices = indices
            self.refresh_every_time_until = time.monotonic() + self.after_swap_s
        return self.unrefreshed_creations or time.monotonic() < self.refresh_every_time_until


async def apply_batch(
    es: AsyncElasticsearch,
    index: str,
    spec: ProjectionSpec,
    batch: list[Envelope],
    visibility: SearchVisibility | None = None,
) -> BatchResult:
    """Apply a batch to `index`. `visibility` (the live consumer's; `index` is then an alias) spares fan-out
    searches a refresh when nothing can be missing; without it every fan-out refreshes first."""
    result = BatchResult()
    groups: dict[str, _Pending] = {}
    for i, event in enumerate(batch):
        doc_id = spec.document_id(event)
        if doc_id is not None:
            groups.setdefault(doc_id, _Pending([])).events.append((i, event))
    if spec.fan_out is not None:
        await _fan_out(es, index, spec, batch, groups, visibility)
    for pending in groups.values():
        pending.events.sort(key=lambda item: (item[1].transaction_id, item[1].global_position))
    todo = dict(groups)
    for _ in range(MAX_CONFLICT_ROUNDS):
        if not todo:
            return result
        contexts = await _fetch(es, index, todo, spec)
        operations: list[dict[str, Any]] = []
        ids: list[str] = []
        # Context documents first, so that documents derived from them see their state after this batch.
        order = sorted(todo, key=lambda d: d not in contexts)
        for doc_id in order:
            pending = todo[doc_id]
            context_id = spec.context_id(doc_id) if spec.context_id else None
            context = contexts.get(context_id) if context_id else None
            doc, changed = fold(spec, pending.doc, pending.events, result, context)
            if doc_id in contexts:
                contexts[doc_id] = doc
            if not changed or doc is None:
                continue
            if spec.single_stream:
                # One stream feeds the document: its version orders the writes (external versioning), so a stale
                # or repeated write is refused by Elasticsearch itself and is a no-op.
                version = max(doc["stream_versions"].values())
                operations.append(
                    {"index": {"_index": index, "_id": doc_id, "version": version, "version_type": "external"}}
                )
            elif pending.seq_no is None:
                operations.append({"create": {"_index": index, "_id": doc_id}})
            else:
                operations.append(
                    {
                        "index": {
                            "_index": index,
                            "_id": doc_id,
                            "if_seq_no": pending.seq_no,
                            "if_primary_term": pending.primary_term,
                        }
                    }
                )
            operations.append(doc)
            ids.append(doc_id)
        retry: dict[str, _Pending] = {}
        if operations:
            response = await es.bulk(operations=operations)
            if visibility is not None and any(
                _created(item) and _fan_out_target(spec, doc_id)
                for doc_id, item in zip(ids, response["items"], strict=True)
            ):
                visibility.created()
            if response.get("errors"):
                for doc_id, item in zip(ids, response["items"], strict=True):
                    outcome = next(iter(item.values()))
                    status = outcome.get("status", 500)
                    if status < 300:
                        continue
                    if status == 409 and spec.single_stream:
                        continue  # a newer version of the document is stored already
                    if status == 409:
                        retry[doc_id] = _reset(todo[doc_id], result)
                    elif status == 429 or status >= 500 or _index_gone(outcome):
                        raise TransientError(f"bulk item {doc_id}: {status} {outcome.get('error')}")
                    else:
                        for i, _event in todo[doc_id].events:
                            result.poison[i] = f"elasticsearch rejected document {doc_id}: {outcome.get('error')}"
            result.written += len(ids) - len(retry)
        todo = retry
    raise TransientError("documents kept conflicting with concurrent writers")


def _fan_out_target(spec: ProjectionSpec, doc_id: str) -> bool:
    """Whether a fan-out search may have to find this document: one derived from a context document (a stock row,
    not the header its events fan out from, which is in the batch's groups already). Creating a header therefore
    costs the next fan-out no refresh."""
    return spec.fan_out is not None and (spec.context_id is None or spec.context_id(doc_id) is not None)


def _created(item: dict[str, Any]) -> bool:
    return bool(next(iter(item.values())).get("result") == "created")


def _index_gone(outcome: dict[str, Any]) -> bool:
    """The write resolved the alias to an index that a rebuild's swap deleted meanwhile: retrying re-resolves it."""
    error = outcome.get("error")
    return isinstance(error, dict) and error.get("type") == "index_not_found_exception"


def _reset(pending: _Pending, result: BatchResult) -> _Pending:
    # Forget what the lost round decided about these events; the next round decides again on a fresh read.
    for i, _event in pending.events:
        result.early.discard(i)
        result.poison.pop(i, None)
    return _Pending(pending.events)


async def _fan_out(
    es: AsyncElasticsearch,
    index: str,
    spec: ProjectionSpec,
    batch: list[Envelope],
    groups: dict[str, _Pending],
    visibility: SearchVisibility | None,
) -> None:
    assert spec.fan_out is not None
    keyed: dict[str, list[int]] = {}
    for i, event in enumerate(batch):
        key = spec.fan_out(event)
        if key is not None:
            keyed.setdefault(key, []).append(i)
    if not keyed:
        return
    # The documents may have been written moments ago: make them searchable first (unless none can be missing).
    if visibility is None or await visibility.must_refresh(es, index):
        if visibility is not None:
            visibility.refreshing()
        try:
            await es.indices.refresh(index=index)
        except BaseException:
            if visibility is not None:
                visibility.created()  # not known to be searchable after all
            raise
    response = await es.search(
        index=index, query={"terms": {"sku": list(keyed)}}, size=10_000, source_includes=["sku"], sort=["_doc"]
    )
    for hit in response["hits"]["hits"]:
        for i in keyed.get(hit["_source"].get("sku"), ()):
            pending = groups.setdefault(hit["_id"], _Pending([]))
            if all(j != i for j, _ in pending.events):
                pending.events.append((i, batch[i]))


async def _fetch(
    es: AsyncElasticsearch, index: str, todo: dict[str, _Pending], spec: ProjectionSpec
) -> dict[str, Document | None]:
    """Load the documents to fold (with their seq_no/primary_term), then the context documents of those that do not
    exist yet: only a new document takes anything from its context (a stock row its product's name), so in the
    steady state a batch costs one `mget` of its own documents."""
    for found in await _mget(es, index, list(todo)):
        pending = todo[found["_id"]]
        if found.get("found"):
            pending.doc = found["_source"]
            pending.seq_no = found["_seq_no"]
            pending.primary_term = found["_primary_term"]
        else:
            pending.doc = pending.seq_no = pending.primary_term = None
    if spec.context_id is None:
        return {}
    needed = {c for d, pending in todo.items() if pending.doc is None and (c := spec.context_id(d))}
    contexts: dict[str, Document | None] = {c: todo[c].doc if c in todo else None for c in needed}
    elsewhere = sorted(c for c in needed if c not in todo)
    if elsewhere:
        for found in await _mget(es, index, elsewhere):
            contexts[found["_id"]] = found["_source"] if found.get("found") else None
    return contexts


async def _mget(es: AsyncElasticsearch, index: str, ids: list[str]) -> list[dict[str, Any]]:
    response = await es.mget(index=index, ids=ids)
    docs: list[dict[str, Any]] = response["docs"]
    for found in docs:
        if "error" in found:  # e.g. the index is gone: never treat that as "no document yet"
            raise TransientError(f"mget {found['_id']}: {found['error']}")
    return docs
