"""A projection's documents in Elasticsearch, as the engine reads and writes them: through the alias, with
optimistic concurrency, and remembered.

The live consumer is the only writer of its index (one active consumer per queue), so what it wrote last is what
the index holds: documents it has read or written are kept (up to `capacity`, least recently used out first) with
their `_seq_no`/`_primary_term`, and a batch reads from Elasticsearch only the documents it has not seen. (A
real-time get of a document written since the last refresh also makes Elasticsearch refresh internally.) Every
write is still conditional -- `if_seq_no`/`if_primary_term` for an existing document, `create` for a new one,
external versioning for a document one stream feeds -- so when another writer did get in (a rebuild writing the
index it is about to swap in), the write fails with a conflict, the document is forgotten, read again and folded
again. When the index behind the alias changes (a rebuild's swap), everything remembered is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from projector.projections import Document


class TransientError(Exception):
    """Elasticsearch could not take the request now (unavailable, overloaded, index being swapped): retry later."""


class DocumentClient(Protocol):
    """What the engine needs of Elasticsearch (AsyncElasticsearch, or verify's in-memory stand-in)."""

    async def mget(self, *, index: str, ids: list[str]) -> Any: ...

    async def bulk(self, *, operations: list[dict[str, Any]]) -> Any: ...


@dataclass
class Stored:
    source: Document | None  # None: no such document
    seq_no: int | None = None
    primary_term: int | None = None


@dataclass
class WriteOutcome:
    conflicts: set[str]  # written by someone else meanwhile: read again and fold again
    rejected: dict[str, str]  # refused for good (e.g. a mapping error): document id -> error


class DocumentStore:
    def __init__(self, es: DocumentClient, index: str, single_stream: bool = False, capacity: int = 50_000) -> None:
        self.es = es
        self.index = index  # the alias (or, for a rebuild, the new index)
        self.single_stream = single_stream
        self.capacity = capacity
        self.known: OrderedDict[str, Stored] = OrderedDict()
        self.behind: str | None = None  # the concrete index the remembered documents are from

    def forget(self, ids: set[str] | None = None) -> None:
        if ids is None:
            self.known.clear()
        for doc_id in ids or ():
            self.known.pop(doc_id, None)

    def _remember(self, doc_id: str, stored: Stored) -> None:
        self.known[doc_id] = stored
        self.known.move_to_end(doc_id)

    def _trim(self) -> None:
        """Forget the least recently used documents beyond the capacity: between batches only, so that a batch's
        own documents stay known from its load to its write."""
        while len(self.known) > self.capacity:
            self.known.popitem(last=False)

    def _seen_index(self, index: str | None) -> None:
        if index and index != self.behind:
            if self.behind is not None:
                self.known.clear()  # the alias moved: nothing remembered is known to be there
            self.behind = index

    async def load(self, ids: list[str]) -> dict[str, Document | None]:
        """The documents (None: none yet), from memory where known, else in one `mget`."""
        missing = [d for d in dict.fromkeys(ids) if d not in self.known]
        if missing:
            response = await self.es.mget(index=self.index, ids=missing)
            for found in response["docs"]:
                if "error" in found:  # e.g. the index is gone: never take that for "no document yet"
                    raise TransientError(f"mget {found['_id']}: {found['error']}")
                self._seen_index(found.get("_index"))
                if found.get("found"):
                    self._remember(found["_id"], Stored(found["_source"], found["_seq_no"], found["_primary_term"]))
                else:
                    self._remember(found["_id"], Stored(None))
        loaded: dict[str, Document | None] = {}
        for doc_id in ids:
            stored = self.known.get(doc_id)
            loaded[doc_id] = stored.source if stored is not None else None
        return loaded

    def _action(self, doc_id: str, doc: Document) -> dict[str, Any]:
        if self.single_stream:
            # One stream feeds the document: its version orders the writes, so a stale or repeated write is refused
            # by Elasticsearch itself.
            version = max(doc["stream_versions"].values())
            return {"index": {"_index": self.index, "_id": doc_id, "version": version, "version_type": "external"}}
        stored = self.known.get(doc_id)
        if stored is None or stored.source is None:
            return {"create": {"_index": self.index, "_id": doc_id}}
        meta = {"_index": self.index, "_id": doc_id, "if_seq_no": stored.seq_no, "if_primary_term": stored.primary_term}
        return {"index": meta}

    async def write(self, docs: dict[str, Document]) -> WriteOutcome:
        """One bulk request for every document; raises TransientError if Elasticsearch could not take it."""
        outcome = WriteOutcome(set(), {})
        if not docs:
            self._trim()
            return outcome
        operations: list[dict[str, Any]] = []
        for doc_id, doc in docs.items():
            operations += [self._action(doc_id, doc), doc]
        response = await self.es.bulk(operations=operations)
        for (doc_id, doc), item in zip(docs.items(), response["items"], strict=True):
            result = next(iter(item.values()))
            self._settle(doc_id, doc, result, outcome)
        self._trim()
        return outcome

    def _settle(self, doc_id: str, doc: Document, result: dict[str, Any], outcome: WriteOutcome) -> None:
        status = int(result.get("status", 500))
        if status < 300:
            self._seen_index(result.get("_index"))
            self._remember(doc_id, Stored(doc, result.get("_seq_no"), result.get("_primary_term")))
            return
        self.known.pop(doc_id, None)
        error = result.get("error")
        if status == 409:
            if not self.single_stream:  # a newer version of a single-stream document is stored already: done
                outcome.conflicts.add(doc_id)
        elif status == 429 or status >= 500:
            raise TransientError(f"bulk item {doc_id}: {status} {error}")
        elif isinstance(error, dict) and error.get("type") == "index_not_found_exception":
            self.known.clear()  # the alias resolved to an index a rebuild's swap deleted meanwhile
            raise TransientError(f"bulk item {doc_id}: the index behind {self.index} was replaced")
        else:
            outcome.rejected[doc_id] = f"elasticsearch rejected document {doc_id}: {error}"
