"""Read-your-writes: wait (bounded) until the projections an answer depends on have made a write searchable.

Projections record two positions (projector/elastic.py): `position`, applied to the index, and
`visible_position`, applied and refreshed. An answer reflects the smallest `visible_position` of the projections
it reads. A request with `min_position` above that waits until every projection has made it visible -- the
projector refreshes every REFRESH_INTERVAL_MS (1 s), so the wait is at most about that once the write is applied.
The search API never refreshes an index itself: a refresh per waiting request queued behind the projector's own
refreshes in Elasticsearch's refresh pool (one thread on a 2-core node) and slowed the whole read side under load.
If the wait runs out, the answer is served as it is with `X-Consistency: stale`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch, NotFoundError

from search_api.settings import SearchApiSettings
from shared.read_models import Projection, positions_index

log = logging.getLogger(__name__)

POLL_SECONDS = 0.02  # how often waiting requests' positions are read
FRESH_SECONDS = 0.05  # how old a reading may get before a request starts a new one (in the background)
RECENT_SECONDS = 1.0  # how old a reading a request without min_position may report; older, it waits for a new one


@dataclass(frozen=True)
class Consistency:
    position: int  # what the answer reflects
    stale: bool

    def headers(self) -> dict[str, str]:
        headers = {"X-Position": str(self.position)}
        if self.stale:
            headers["X-Consistency"] = "stale"
        return headers


async def _visible_positions(
    es: AsyncElasticsearch, prefix: str, projections: tuple[Projection, ...]
) -> dict[str, int]:
    """Each projection's visible position (0 when it has projected nothing yet)."""
    try:
        response = await es.mget(index=positions_index(prefix), ids=[p.value for p in projections])
    except NotFoundError:  # nothing projected yet
        return {p.value: 0 for p in projections}
    return {
        doc["_id"]: int(doc["_source"].get("visible_position", 0)) if doc.get("found") else 0
        for doc in response["docs"]
    }


class PositionWatcher:
    """The projections' visible positions as this process last read them, per Elasticsearch client and prefix.

    - A search without `min_position` reports the last reading in X-Position instead of reading the positions
      itself: positions only grow, so an earlier reading is still a true lower bound of what the answer reflects,
      and a search costs one Elasticsearch request instead of two. A reading older than FRESH_SECONDS is renewed in
      the background (the request does not wait for it); one older than RECENT_SECONDS (the process was idle) is
      renewed before answering, so X-Position is never far behind.
    - Requests that wait share one poller: N waiting requests cost one small `mget` per POLL_SECONDS, not N
      (which, with a few dozen requests waiting under load, kept Elasticsearch's get pool and this process busy).
    - Concurrent readings are one request (single flight).
    """

    def __init__(self, es: AsyncElasticsearch, prefix: str) -> None:
        self.es = weakref.ref(es)  # the client keys this watcher in _WATCHERS: no strong reference back
        self.prefix = prefix
        self.visible: dict[str, int] = {}
        self.read_at = float("-inf")  # monotonic time the last reading started
        self.reading: asyncio.Future[dict[str, int]] | None = None
        self.updated = asyncio.Event()
        self.waiters = 0
        self.task: asyncio.Task[None] | None = None

    def _start_reading(self) -> asyncio.Future[dict[str, int]]:
        if self.reading is None:
            self.reading = asyncio.ensure_future(self._read())
            self.reading.add_done_callback(self._read_done)
        return self.reading

    async def read(self) -> dict[str, int]:
        return await asyncio.shield(self._start_reading())  # a cancelled request does not cancel the others' reading

    def _read_done(self, reading: asyncio.Future[dict[str, int]]) -> None:
        if self.reading is reading:
            self.reading = None
        if not reading.cancelled():
            reading.exception()  # retrieved: the waiting requests got it

    async def _read(self) -> dict[str, int]:
        started = time.monotonic()
        es = self.es()
        if es is None:
            raise RuntimeError("the Elasticsearch client of this watcher is gone")
        visible = await _visible_positions(es, self.prefix, tuple(Projection))
        if started >= self.read_at:
            self.visible, self.read_at = visible, started
        updated, self.updated = self.updated, asyncio.Event()
        updated.set()
        return self.visible

    async def recent(self, projections: tuple[Projection, ...]) -> int:
        """The smallest visible position of the projections, read at most RECENT_SECONDS ago."""
        age = time.monotonic() - self.read_at
        if age > RECENT_SECONDS:
            await self.read()
        elif age > FRESH_SECONDS:
            self._start_reading()  # for the next requests; this one reports the reading it has
        return min(self.visible.get(p.value, 0) for p in projections)

    async def _poll(self) -> None:
        try:
            while self.waiters > 0:
                await asyncio.sleep(POLL_SECONDS)
                if not self.waiters:  # the last waiter left meanwhile: nobody needs this reading
                    break
                try:
                    await self.read()
                except Exception as exc:  # noqa: BLE001 - waiters time out as stale; the next poll tries again
                    log.warning("reading projection positions failed: %s", exc)
        finally:
            self.task = None

    async def wait_until(self, projections: tuple[Projection, ...], min_position: int, deadline: float) -> int | None:
        """The smallest visible position of the projections once it reaches min_position; None at the deadline."""
        self.waiters += 1
        try:
            if self.task is None:
                self.task = asyncio.create_task(self._poll())
            while True:
                updated = self.updated
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(updated.wait(), remaining)
                if (visible := min(self.visible.get(p.value, 0) for p in projections)) >= min_position:
                    return visible
        finally:
            self.waiters -= 1


_WATCHERS: weakref.WeakKeyDictionary[AsyncElasticsearch, dict[str, PositionWatcher]] = weakref.WeakKeyDictionary()


def watcher(es: AsyncElasticsearch, prefix: str) -> PositionWatcher:
    by_prefix = _WATCHERS.setdefault(es, {})
    if prefix not in by_prefix:
        by_prefix[prefix] = PositionWatcher(es, prefix)
    return by_prefix[prefix]


async def ensure_position(
    es: AsyncElasticsearch, prefix: str, projections: tuple[Projection, ...], min_position: int | None, wait_ms: int
) -> Consistency:
    positions = watcher(es, prefix)
    visible = await positions.recent(projections)
    if min_position is None or visible >= min_position:
        return Consistency(visible, stale=False)
    reached = await positions.wait_until(projections, min_position, time.monotonic() + wait_ms / 1000)
    if reached is None:
        return Consistency(max(visible, min(positions.visible.get(p.value, 0) for p in projections)), stale=True)
    return Consistency(reached, stale=False)


async def read_consistency(
    es: AsyncElasticsearch,
    settings: SearchApiSettings,
    projections: tuple[Projection, ...],
    min_position: int | None,
    wait_ms: int | None,
) -> Consistency:
    """ensure_position with the request's wait (DEFAULT_WAIT_MS when it names none) bounded by MAX_WAIT_MS."""
    wait = min(settings.max_wait_ms, settings.default_wait_ms if wait_ms is None else wait_ms)
    return await ensure_position(es, settings.elasticsearch_prefix, projections, min_position, wait)
