"""One projection, live: its queue (consumer.py), its batches (pipeline.py), its documents (documents.py) and its
positions (positions.py), and the gauges that say how far behind it is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from elasticsearch import AsyncElasticsearch
from prometheus_client import Gauge

from projector.apply import is_transient
from projector.consumer import QueueConsumer
from projector.documents import DocumentStore
from projector.elastic import ensure_alias, ensure_positions_index
from projector.pipeline import Pipeline
from projector.positions import Positions
from projector.projections import ProjectionSpec
from projector.settings import ProjectorSettings
from shared.read_models import alias_name
from shared.retry import Backoff

log = logging.getLogger(__name__)

LAG_EVENTS = Gauge(
    "projection_lag_events",
    "Messages (transactions) not yet applied: waiting in the queue or delivered and in work; NaN while unknown",
    ["projection"],
)
LAG_SECONDS = Gauge(
    "projection_lag_seconds",
    "How far behind the projection is: 0 when nothing waits, else the age of the newest event applied (at most the "
    "time since it last had nothing to do); while RabbitMQ is out of reach, the lag it had then plus the time since",
    ["projection"],
)
PARKED = Gauge("projection_parked_messages", "Messages in the projection's parking queue", ["projection"])


class ProjectionWorker:
    def __init__(self, settings: ProjectorSettings, spec: ProjectionSpec, es: AsyncElasticsearch) -> None:
        self.settings, self.spec, self.es = settings, spec, es
        self.name = spec.projection.value
        alias = alias_name(settings.elasticsearch_prefix, spec.projection)
        self.consumer = QueueConsumer(settings, self.name)
        self.positions = Positions(es, settings, spec.projection, alias)
        # Read and write through the alias, so that a rebuild's alias swap redirects this worker at once.
        self.store = DocumentStore(es, alias, spec.single_stream, settings.cached_documents)
        self.pipeline = Pipeline(settings, spec, self.store, self.consumer, self.positions)
        self.idle_since = time.monotonic()
        self.lag_s = 0.0  # the last lag measured while connected

    @property
    def ready(self) -> bool:
        return self.consumer.connected

    async def run(self, stop: asyncio.Event) -> None:
        if not await self._prepare(stop):
            return
        tasks = [
            asyncio.create_task(self.consumer.run(stop)),
            asyncio.create_task(self.positions.run(stop)),
            asyncio.create_task(self._report(stop)),
        ]
        try:
            await self.pipeline.run(stop)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _prepare(self, stop: asyncio.Event) -> bool:
        """The index, its alias and the recorded position, however long Elasticsearch takes to answer."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                await ensure_positions_index(self.es, self.settings.elasticsearch_prefix)
                await ensure_alias(
                    self.es, self.settings.elasticsearch_prefix, self.spec.projection, self.settings.index_replicas
                )
                await self.positions.load()
                return True
            except Exception as exc:
                delay = backoff.next_delay()
                if is_transient(exc):
                    log.warning("projection %s: Elasticsearch unavailable (%s); retry in %.1f s", self.name, exc, delay)
                else:
                    log.exception("projection %s: could not prepare its index; retry in %.1f s", self.name, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        return False

    async def _report(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.report()
            await asyncio.sleep(1)

    def report(self) -> None:
        """Lag as the broker sees it: a consumer that stops consuming shows a growing lag, never 0; while the
        broker is out of reach, what is waiting is unknown (NaN) and the lag grows from what it was."""
        now = time.monotonic()
        waiting = self.consumer.waiting if self.consumer.connected else None
        if waiting is None:
            LAG_EVENTS.labels(self.name).set(float("nan"))
            LAG_SECONDS.labels(self.name).set(self.lag_s + now - self.consumer.lost_at)
            return
        behind = waiting + self.consumer.inbox.qsize() + self.consumer.in_hand
        LAG_EVENTS.labels(self.name).set(behind)
        PARKED.labels(self.name).set(self.consumer.parked or 0)
        if behind == 0:
            self.idle_since, self.lag_s = now, 0.0
        else:
            newest = self.positions.newest_event
            age = (datetime.now(UTC) - newest).total_seconds() if newest else float("inf")
            self.lag_s = max(0.0, min(age, now - self.idle_since))
        LAG_SECONDS.labels(self.name).set(self.lag_s)
