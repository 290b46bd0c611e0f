"""`python -m projector rebuild <projection>`: rebuild a projection's index from the PostgreSQL event store.

DESIGN.md "Projector": replay from the store (not RabbitMQ) into a new versioned index, catch up with live events,
swap the alias atomically; searches keep working throughout and nothing written during the rebuild is lost.

1. Create a new versioned index (`new_index_name`), with the projection's current mapping.
2. Replay the store's transactions in read order (gap-free, shared/event_log.py) into it, each decoded from the
   message the relay would publish for it and applied batch by batch through `apply.apply_events` -- the code the
   live consumer runs, so the documents are the ones the live projector would have written (projector/replay.py).
   The replay ends at the store's head:
   checkpoint C, watermark W1. Meanwhile the live projector keeps writing the old index, which stays behind the
   alias: searches are answered by a complete index.
3. Refresh the new index, replay what arrived meanwhile, then swap in ONE `update_aliases` call (atomic): the
   alias (and any other alias of the old index) moves to the new index, and the old index is deleted. Its name
   becomes an alias of the new index for one generation (the name of the index before it is dropped): a process
   that resolved the alias to the concrete index name (an older projector did) then writes into the new index,
   instead of making Elasticsearch auto-create an orphan index of that name with dynamic mappings. The live
   projector writes through the alias; it sees the index change in its bulk answers and forgets the documents it
   remembered (projector/documents.py).
4. Replay again from the last checkpoint to the head into the new index: whatever reached the old index between
   that replay and the swap is in the store and is applied now (repeats are no-ops: documents keep per-stream
   versions). From the swap on, the live projector writes the new index too; one of its events that arrives before
   this tail is applied is handed back ("early") and applied on redelivery. Then refresh, and record the
   projection's position at the watermark reached (kept if a higher one is recorded already).

Between the swap and the end of step 4 (usually well under a second) the new index may miss the few events the
live projector applied to the old index only, although the recorded position covers them.

A PostgreSQL advisory lock keeps two rebuilds of one projection from running at once.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from elasticsearch import AsyncElasticsearch

from projector.apply import apply_with_retries
from projector.documents import DocumentStore
from projector.elastic import (
    create_index,
    ensure_positions_index,
    indices_behind,
    new_index_name,
    read_position,
    record_position,
)
from projector.projections import ProjectionSpec
from projector.replay import store_batches
from projector.settings import ProjectorSettings
from shared.elastic import elasticsearch_client
from shared.event_log import START, ReadPosition, connect
from shared.read_models import alias_name

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x52424C44  # "RBLD"
RETRY_DELAYS = (0.2, 0.5, 1, 2, 4, 5, 5, 5)


@dataclass
class Replay:
    """Progress of the replay into the new index."""

    checkpoint: ReadPosition = START
    watermark: int = 0
    events: int = 0
    written: int = 0
    # Events the projection could not apply (the live projector parks them): "event id (stream vN): error".
    poison: list[str] = field(default_factory=list)
    early: int = 0
    last_event_at: datetime | None = None


async def replay(conn: asyncpg.Connection, store: DocumentStore, spec: ProjectionSpec, progress: Replay) -> None:
    """Apply the store's events after progress.checkpoint, up to the head, to the store's index."""
    async for batch in store_batches(conn, spec.topics, progress.checkpoint):
        progress.poison += batch.unreadable
        events = batch.events
        if events:
            result = await apply_with_retries(store, spec, events, RETRY_DELAYS)
            progress.events += len(events)
            progress.written += result.written
            progress.early += len(result.early)
            for i, error in sorted(result.poison.items()):
                event = events[i]
                progress.poison.append(f"{event.event_id} ({event.stream_id} v{event.version}): {error}")
            newest = max(e.recorded_at for e in events)
            progress.last_event_at = max(newest, progress.last_event_at or newest)
        progress.checkpoint = batch.checkpoint
        progress.watermark = max(progress.watermark, batch.watermark)


async def swap_alias(es: AsyncElasticsearch, alias: str, new: str) -> list[str]:
    """In one atomic update: point `alias` (and any other alias of the old index) at `new`, delete the old index and
    make its name an alias of `new`. The names of indices older than that are dropped. Returns the old indices."""
    old = await indices_behind(es, alias)
    generation = re.compile(rf"^{re.escape(alias)}-v\d+-\d+$")  # new_index_name(); as an alias: a former index
    actions: list[dict[str, Any]] = [{"add": {"index": new, "alias": alias}}]
    for index in old:
        aliases = (await es.indices.get_alias(index=index)).body.get(index, {}).get("aliases", {})
        actions += [
            {"add": {"index": new, "alias": a}} for a in sorted(aliases) if a != alias and not generation.match(a)
        ]
        actions += [{"add": {"index": new, "alias": index}}, {"remove_index": {"index": index}}]
    await es.indices.update_aliases(actions=actions)
    return old


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def rebuild(settings: ProjectorSettings, spec: ProjectionSpec) -> int:
    projection = spec.projection
    prefix = settings.elasticsearch_prefix
    alias = alias_name(prefix, projection)
    es = elasticsearch_client(settings.elasticsearch_url, max(settings.elasticsearch_timeout_s, 60))
    conn = await connect(settings.database_url)
    lock = LOCK_NAMESPACE << 32 | zlib.crc32(f"{prefix}{projection.value}".encode())
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
            _say(f"{projection.value}: another rebuild of this projection is running")
            return 2
        await ensure_positions_index(es, prefix)
        new = new_index_name(prefix, projection)
        await create_index(es, new, projection, settings.index_replicas)
        started = time.monotonic()
        progress = Replay()
        store = DocumentStore(es, new, spec.single_stream, settings.cached_documents)
        try:
            await replay(conn, store, spec, progress)
            _say(
                f"{projection.value}: replayed {progress.events} events into {new} "
                f"up to position {progress.watermark} in {time.monotonic() - started:.1f} s"
            )
            await es.indices.refresh(index=new)
            # What arrived during the refresh: the fewer events the live projector applies to the old index only,
            # the fewer of its next ones find the new index behind (step 4).
            await replay(conn, store, spec, progress)
            old = await swap_alias(es, alias, new)
        except BaseException:
            await es.indices.delete(index=new, ignore_unavailable=True)
            raise
        _say(f"{projection.value}: alias {alias} -> {new} (replaced {', '.join(old) or 'nothing'})")
        before = progress.events
        await replay(conn, store, spec, progress)
        await es.indices.refresh(index=new)
        last = progress.last_event_at.isoformat() if progress.last_event_at else None
        await record_position(es, prefix, projection, progress.watermark, progress.watermark, last)
        recorded = await read_position(es, prefix, projection)
        _say(
            f"{projection.value}: caught up {progress.events - before} more events; index at position "
            f"{progress.watermark}, recorded position {recorded}; {progress.written} documents written "
            f"in {time.monotonic() - started:.1f} s"
        )
        for poison in progress.poison[:20]:
            _say(f"{projection.value}: could not apply {poison}")
        if progress.poison:
            _say(
                f"{projection.value}: {len(progress.poison)} events could not be applied "
                "(the live projector parks them)"
            )
        return 0
    finally:
        await conn.close()
        await es.close()
