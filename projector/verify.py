"""`python -m projector verify [projection...]`: compare each projection's index with the PostgreSQL event store.

The expected documents come from folding the store's events, in read order, through the same code the live
projector runs, each projection with the events its queue receives (its bindings, shared/messaging.py):
`apply.apply_events` over an in-memory stand-in for Elasticsearch (projector/memory_index.py), so document ids,
units, per-stream versions and the handling of events the projection cannot apply are the live ones.
Then every document behind the alias is read (point in time + search_after) and compared.

Only what the projection vouches for is compared: events of transactions up to its recorded `position` are folded.
A document that has applied a later event already (a stream version above any folded one) is skipped as "ahead";
so verify can run beside a busy projector, but it proves most on a quiet system or a caught-up projection (lag 0).
The fields `position` and `updated_at` are ignored; every other field, `stream_versions` included, must match.

Exit status: 0 if every projection matches, 1 otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch, NotFoundError

from projector.apply import apply_events
from projector.documents import DocumentStore
from projector.elastic import read_position
from projector.memory_index import MemoryIndex
from projector.projections import Document, ProjectionSpec
from projector.replay import store_batches
from projector.settings import ProjectorSettings
from shared.elastic import elasticsearch_client
from shared.event_log import connect
from shared.events.envelope import Envelope
from shared.messaging import wanted
from shared.read_models import alias_name

IGNORED_FIELDS = frozenset({"position", "updated_at"})
SHOWN = 20  # documents shown per kind of difference
VALUE_CHARS = 100


@dataclass
class Fold:
    """One projection's expected documents, folded from the store up to its recorded position."""

    spec: ProjectionSpec
    up_to: int
    memory: MemoryIndex = field(default_factory=MemoryIndex)
    events: int = 0
    latest: dict[str, int] = field(default_factory=dict)  # sequence -> highest number folded
    # Events the projection could not apply, which the live projector parks: "event (stream vN): why".
    unapplied: list[str] = field(default_factory=list)

    async def add(self, events: list[Envelope]) -> None:
        """Fold the events of transactions up to the position, as the live projector applies them."""
        topics = self.spec.topics
        events = [e for e in events if e.transaction_id <= self.up_to and wanted(topics, e.stream_type, e.event_type)]
        if not events:
            return
        store = DocumentStore(self.memory, self.memory.name, self.spec.single_stream, capacity=0)
        result = await apply_events(store, self.spec, events)
        self.events += len(events)
        for key, number in result.sequences.values():
            self.latest[key] = max(number, self.latest.get(key, 0))
        why = {**dict.fromkeys(result.early, "arrived after a gap in its stream"), **result.poison}
        self.unapplied += [
            f"{events[i].event_type} {events[i].event_id} ({events[i].stream_id} v{events[i].version}): {error}"
            for i, error in sorted(why.items())
        ]


async def fold_store(database_url: str, folds: list[Fold], batch_size: int = 500) -> None:
    """Read the store once, in read order, and fold each event of a transaction <= fold.up_to into each fold."""
    conn = await connect(database_url)
    horizon = max((f.up_to for f in folds), default=0)
    topics = frozenset().union(*(f.spec.topics for f in folds))
    try:
        async for batch in store_batches(conn, topics, limit=batch_size):
            for fold in folds:
                await fold.add(batch.events)
                fold.unapplied += [f"unreadable event {why}" for why in batch.unreadable]
            if batch.checkpoint.transaction_id > horizon:
                break  # read order is transaction order: the rest is later still
    finally:
        await conn.close()


async def indexed_documents(es: AsyncElasticsearch, index: str, page: int = 1000) -> dict[str, Document]:
    """Every document of `index` (an alias), read with a point in time and search_after."""
    try:
        await es.indices.refresh(index=index)  # applied but not yet refreshed documents count too
    except NotFoundError:
        return {}  # never projected
    pit = (await es.open_point_in_time(index=index, keep_alive="2m"))["id"]
    found: dict[str, Document] = {}
    after: list[Any] | None = None
    try:
        while True:
            response = await es.search(
                pit={"id": pit, "keep_alive": "2m"},
                sort=["_shard_doc"],
                size=page,
                search_after=after,
                track_total_hits=False,
            )
            hits = response["hits"]["hits"]
            for hit in hits:
                found[hit["_id"]] = hit["_source"]
            if len(hits) < page:
                return found
            pit = response.get("pit_id", pit)
            after = hits[-1]["sort"]
    finally:
        await es.close_point_in_time(id=pit)


@dataclass
class Comparison:
    projection: str
    position: int
    events: int
    expected: int
    indexed: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    differing: dict[str, list[str]] = field(default_factory=dict)
    ahead: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.differing)

    def lines(self) -> list[str]:
        name = self.projection
        out = [
            f"{name}: position {self.position}: {self.events} events folded, {self.expected} documents expected, "
            f"{self.indexed} indexed, {len(self.ahead)} ahead of the position (skipped): "
            + (
                "OK"
                if self.ok
                else f"{len(self.missing)} missing, {len(self.extra)} extra, {len(self.differing)} differing"
            )
        ]
        out += [f"{name}: missing {doc_id}" for doc_id in self.missing[:SHOWN]]
        out += [f"{name}: extra {doc_id}" for doc_id in self.extra[:SHOWN]]
        for doc_id, fields in list(self.differing.items())[:SHOWN]:
            out += [f"{name}: differs {doc_id}: {f}" for f in fields]
        hidden = sum(max(0, len(x) - SHOWN) for x in (self.missing, self.extra, list(self.differing)))
        if hidden:
            out.append(f"{name}: ... and {hidden} more")
        return out


def _shown(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if value is not None else "null"
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 3] + "..."


def _is_ahead(indexed: Document, latest: dict[str, int]) -> bool:
    """Whether the document has applied a stream version the folded events do not reach (a later event)."""
    return any(int(v) > latest.get(s, 0) for s, v in indexed.get("stream_versions", {}).items())


def differences(expected: Document, indexed: Document) -> list[str]:
    """Field by field."""
    fields = []
    for key in sorted((expected.keys() | indexed.keys()) - IGNORED_FIELDS):
        want, have = expected.get(key), indexed.get(key)
        if key not in indexed:
            fields.append(f"{key}: expected {_shown(want)}, not indexed")
        elif key not in expected:
            fields.append(f"{key}: not expected, indexed {_shown(have)}")
        elif want != have:
            fields.append(f"{key}: expected {_shown(want)}, indexed {_shown(have)}")
    return fields


def compare(
    spec: ProjectionSpec,
    position: int,
    events: int,
    expected: dict[str, Document],
    indexed: dict[str, Document],
    latest: dict[str, int],
) -> Comparison:
    """`latest`: the highest number of each sequence among the folded events."""
    result = Comparison(spec.projection.value, position, events, len(expected), len(indexed))
    for doc_id in sorted(expected.keys() | indexed.keys()):
        want, have = expected.get(doc_id), indexed.get(doc_id)
        if have is not None and _is_ahead(have, latest):
            result.ahead.append(doc_id)
        elif have is None:
            result.missing.append(doc_id)
        elif want is None:
            result.extra.append(doc_id)
        elif fields := differences(want, have):
            result.differing[doc_id] = fields
    return result


async def verify(settings: ProjectorSettings, specs: list[ProjectionSpec]) -> int:
    es = elasticsearch_client(settings.elasticsearch_url, max(settings.elasticsearch_timeout_s, 60))
    prefix = settings.elasticsearch_prefix
    ok = True
    try:
        # Positions first: whatever the projector applies after this is "ahead" and skipped.
        folds = [Fold(spec, await read_position(es, prefix, spec.projection)) for spec in specs]
        await fold_store(settings.database_url, folds, settings.batch_size)
        for fold in folds:
            name = fold.spec.projection
            indexed = await indexed_documents(es, alias_name(prefix, name))
            expected = fold.memory.documents()
            comparison = compare(fold.spec, fold.up_to, fold.events, expected, indexed, fold.latest)
            ok = ok and comparison.ok
            lines = comparison.lines()
            if fold.unapplied:  # the index agrees, but these events never reached it: the projector parks them
                lines.append(f"{name.value}: warning: {len(fold.unapplied)} events cannot be applied (parked live)")
                lines += [f"{name.value}: cannot apply {u}" for u in fold.unapplied[:SHOWN]]
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            sys.stdout.flush()
    finally:
        await es.close()
    return 0 if ok else 1
