"""Read-your-writes: wait (bounded) until the projections an answer depends on have made a write searchable.

Projections record two positions (projector/elastic.py): `position`, applied to the index, and
`visible_position`, applied and refreshed. An answer reflects the smallest `visible_position` of the projections
it reads. A request with `min_position` above that waits until every projection has *applied* it, then refreshes
those indices itself (a refresh makes everything applied so far searchable), so it need not wait for the
projector's next refresh. If the wait runs out, the answer is served as it is with `X-Consistency: stale`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch, NotFoundError

from shared.read_models import Projection, alias_name, positions_index

POLL_SECONDS = 0.01


@dataclass(frozen=True)
class Consistency:
    position: int  # what the answer reflects
    stale: bool

    def headers(self) -> dict[str, str]:
        headers = {"X-Position": str(self.position)}
        if self.stale:
            headers["X-Consistency"] = "stale"
        return headers


async def _positions(es: AsyncElasticsearch, prefix: str, projections: tuple[Projection, ...]) -> tuple[int, int]:
    """(smallest applied position, smallest visible position) over the projections."""
    try:
        response = await es.mget(index=positions_index(prefix), ids=[p.value for p in projections])
    except NotFoundError:  # nothing projected yet
        return 0, 0
    applied, visible = [], []
    for doc in response["docs"]:
        source = doc.get("_source") if doc.get("found") else None
        applied.append(int(source["position"]) if source else 0)
        visible.append(int(source.get("visible_position", 0)) if source else 0)
    return min(applied), min(visible)


async def ensure_position(
    es: AsyncElasticsearch, prefix: str, projections: tuple[Projection, ...], min_position: int | None, wait_ms: int
) -> Consistency:
    applied, visible = await _positions(es, prefix, projections)
    if min_position is None or visible >= min_position:
        return Consistency(visible, stale=False)
    deadline = time.monotonic() + wait_ms / 1000
    while applied < min_position:
        if time.monotonic() >= deadline:
            return Consistency(visible, stale=True)
        await asyncio.sleep(POLL_SECONDS)
        applied, visible = await _positions(es, prefix, projections)
    if visible < min_position:
        remaining = max(0.0, deadline - time.monotonic())
        try:  # a refresh makes everything applied searchable; under load it may queue, so it is bounded too
            await asyncio.wait_for(
                es.indices.refresh(index=",".join(alias_name(prefix, p) for p in projections)), max(remaining, 0.05)
            )
        except TimeoutError:
            return Consistency(visible, stale=True)
    return Consistency(applied, stale=False)


async def read_consistency(
    es: AsyncElasticsearch,
    prefix: str,
    projections: tuple[Projection, ...],
    min_position: int | None,
    wait_ms: int | None,
    default_wait_ms: int,
    max_wait_ms: int,
) -> Consistency:
    """ensure_position with the request's wait bounded by the service's settings."""
    wait = min(max_wait_ms, default_wait_ms if wait_ms is None else wait_ms)
    return await ensure_position(es, prefix, projections, min_position, wait)
