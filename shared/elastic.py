"""The Elasticsearch client every process uses: elasticsearch-py with orjson instead of the standard json module.

Bodies of searches and bulk requests are encoded and answers decoded on every request; the standard library's json
was a visible share of the search API's and the projector's CPU (py-spy). The compatibility mimetypes the client
sends (application/vnd.elasticsearch+json and +x-ndjson) take the same serializers.
"""

from __future__ import annotations

from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import NdjsonSerializer, OrjsonSerializer

OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonNdjsonSerializer(NdjsonSerializer):
    """NDJSON (bulk bodies) with each line encoded and decoded by orjson."""

    def json_dumps(self, data: Any) -> bytes:
        return orjson.dumps(data, default=self.default, option=OPTIONS)

    def json_loads(self, data: bytes) -> Any:
        return orjson.loads(data)


def elasticsearch_client(url: str, timeout_s: float, connections: int = 10) -> AsyncElasticsearch:
    """The client every process uses: orjson bodies, at most `connections` requests in flight."""
    return AsyncElasticsearch(
        url,
        request_timeout=timeout_s,
        connections_per_node=connections,
        serializers={"application/json": OrjsonSerializer(), "application/x-ndjson": OrjsonNdjsonSerializer()},
    )


async def elasticsearch_answers(es: AsyncElasticsearch) -> bool:
    """Readiness probe. Not `ping()` (HEAD /): the integ-test distribution has no root endpoint."""
    try:
        health = await es.cluster.health(timeout="2s")
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
    return health.get("status") in ("green", "yellow")
