"""A projection's two positions and the refresh that turns the one into the other.

- `applied`: every transaction up to it has been applied to the index (written, maybe not yet searchable);
- `visible`: ... and the index has been refreshed since, so searches see it. The search API reports it in
  `X-Position` and waits for it when asked for `min_position`.

The indices are created with refresh_interval -1: the projector owns refreshing, so that it knows which position is
searchable. Every REFRESH_INTERVAL_MS, if something was applied since, it refreshes the index and records both
positions in the `projection-positions` index. The three projections refresh a third of an interval apart
(REFRESH_PHASE): Elasticsearch runs refreshes on one thread on a small node, and three at the same moment would
queue behind each other.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime

from elasticsearch import AsyncElasticsearch
from prometheus_client import Gauge

from projector.elastic import read_position, record_position
from projector.settings import ProjectorSettings
from shared.read_models import Projection

log = logging.getLogger(__name__)

APPLIED_POSITION = Gauge("projection_position", "Read-side position the projection has applied", ["projection"])
VISIBLE_POSITION = Gauge("projection_visible_position", "Read-side position that is searchable", ["projection"])

REFRESH_PHASE = {Projection.PRODUCTS: 0.0, Projection.INVENTORY: 1 / 3, Projection.ORDERS: 2 / 3}


def next_refresh_at(now: float, interval: float, phase: float) -> float:
    """The first moment after `now` that lies `phase` (a fraction) into an interval of the clock's grid."""
    offset = phase * interval
    return (math.floor((now - offset) / interval) + 1) * interval + offset


class Positions:
    def __init__(self, es: AsyncElasticsearch, settings: ProjectorSettings, projection: Projection, index: str) -> None:
        self.es, self.settings, self.projection, self.index = es, settings, projection, index
        self.applied = 0
        self.visible = 0
        self.newest_event: datetime | None = None  # recorded_at of the newest event applied
        self.record_lock = asyncio.Lock()

    async def load(self) -> None:
        """Start from the recorded position (what was applied before is in the index already)."""
        self.applied = self.visible = await read_position(self.es, self.settings.elasticsearch_prefix, self.projection)
        APPLIED_POSITION.labels(self.projection.value).set(self.applied)
        VISIBLE_POSITION.labels(self.projection.value).set(self.visible)

    async def advance(self, position: int | None, newest_event: datetime | None) -> None:
        """After a batch: every transaction up to `position` (if any) has been applied."""
        if newest_event is not None and (self.newest_event is None or newest_event > self.newest_event):
            self.newest_event = newest_event
        if position is not None and position > self.applied:
            self.applied = position
            APPLIED_POSITION.labels(self.projection.value).set(position)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh on a fixed cadence: a refresh that takes a while under load does not push the next one back;
        one that overran its slot is followed by the next slot."""
        interval = self.settings.refresh_interval_ms / 1000
        phase = REFRESH_PHASE.get(self.projection, 0.0)
        due = next_refresh_at(time.monotonic(), interval, phase)
        while not stop.is_set():
            now = time.monotonic()
            if due < now:
                due = next_refresh_at(now, interval, phase)
            await asyncio.sleep(due - now)
            due += interval
            if self.applied > self.visible:
                await self.refresh()

    async def refresh(self) -> None:
        target = self.applied
        try:
            await self.es.indices.refresh(index=self.index)
            self.visible = max(self.visible, target)
            await self.record()
            VISIBLE_POSITION.labels(self.projection.value).set(self.visible)
        except Exception as exc:  # noqa: BLE001 - Elasticsearch is away: the next round tries again
            log.warning("projection %s: refresh failed: %s", self.projection.value, exc)

    async def record(self) -> None:
        async with self.record_lock:  # one write at a time, so the stored pair never moves backwards
            newest = self.newest_event.isoformat() if self.newest_event else None
            await record_position(
                self.es, self.settings.elasticsearch_prefix, self.projection, self.applied, self.visible, newest
            )
