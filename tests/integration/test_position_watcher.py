"""The search API's reading of the projections' positions (search_api/consistency.py) on the real Elasticsearch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from elasticsearch import AsyncElasticsearch

from projector.elastic import ensure_positions_index, record_position
from search_api import consistency
from search_api.consistency import FRESH_SECONDS, RECENT_SECONDS, PositionWatcher, ensure_position
from shared.read_models import Projection
from tests.conftest import Namespace

ALL = tuple(Projection)


class CountingClient(AsyncElasticsearch):
    """A real client that counts the position readings (mget) it sends."""

    mgets = 0

    async def mget(self, *args: Any, **kwargs: Any) -> Any:
        self.mgets += 1
        return await super().mget(*args, **kwargs)


@pytest_asyncio.fixture
async def es(namespace: Namespace) -> AsyncIterator[CountingClient]:
    client = CountingClient(namespace.elasticsearch_url, request_timeout=30)
    try:
        yield client
    finally:
        await client.close()


async def record_all(es: AsyncElasticsearch, prefix: str, position: int) -> None:
    for projection in ALL:
        await record_position(es, prefix, projection, position, position, None)
    await es.indices.refresh(index=f"{prefix}*")


@pytest.fixture
def prefix(namespace: Namespace, request: pytest.FixtureRequest) -> str:
    return f"{namespace.elasticsearch_prefix}watch-{request.node.name[-12:].lower()}-"


async def test_no_projection_yet_reads_as_zero(es: CountingClient, prefix: str) -> None:
    assert await PositionWatcher(es, prefix).recent(ALL) == 0


async def test_requests_report_the_last_reading_and_renew_it_in_the_background(es: CountingClient, prefix: str) -> None:
    await ensure_positions_index(es, prefix)
    await record_all(es, prefix, 10)
    watcher = PositionWatcher(es, prefix)
    assert await watcher.recent(ALL) == 10  # the first request reads
    assert es.mgets == 1

    await record_all(es, prefix, 20)
    # The clock is set by hand, not slept on: on a busy machine writing the positions alone can take longer than
    # FRESH_SECONDS.
    watcher.read_at = time.monotonic()
    assert await watcher.recent(ALL) == 10  # fresh enough: no reading
    assert es.mgets == 1

    watcher.read_at -= FRESH_SECONDS * 2
    # Older than FRESH_SECONDS: this request answers with what it has (still a lower bound) and starts a reading...
    assert await watcher.recent(ALL) == 10
    assert watcher.reading is not None
    await watcher.reading
    # ...which the next requests report.
    assert await watcher.recent(ALL) == 20
    assert es.mgets >= 2


async def test_after_an_idle_spell_a_request_waits_for_a_new_reading(es: CountingClient, prefix: str) -> None:
    await ensure_positions_index(es, prefix)
    await record_all(es, prefix, 5)
    watcher = PositionWatcher(es, prefix)
    assert await watcher.recent(ALL) == 5
    await record_all(es, prefix, 7)
    watcher.read_at -= RECENT_SECONDS + 1  # as if the process had been idle for longer than RECENT_SECONDS
    assert await watcher.recent(ALL) == 7


async def test_min_position_waits_until_visible_or_answers_stale(es: CountingClient, prefix: str) -> None:
    await ensure_positions_index(es, prefix)
    await record_all(es, prefix, 100)
    consistency._WATCHERS.clear()
    assert (await ensure_position(es, prefix, ALL, 100, 0)).stale is False

    stale = await ensure_position(es, prefix, ALL, 101, 100)
    assert stale.stale is True and stale.position == 100
    assert stale.headers() == {"X-Position": "100", "X-Consistency": "stale"}

    async def advance() -> None:
        await asyncio.sleep(0.1)
        await record_all(es, prefix, 150)

    writer = asyncio.create_task(advance())
    reached = await ensure_position(es, prefix, ALL, 120, 5_000)
    await writer
    assert reached.stale is False and reached.position == 150
