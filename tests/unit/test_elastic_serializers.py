"""The orjson serializers of shared/elastic.py encode what elasticsearch-py's standard ones encode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from elasticsearch.serializer import JsonSerializer, NdjsonSerializer, OrjsonSerializer

from shared.elastic import OrjsonNdjsonSerializer, elasticsearch_client

DOCUMENTS: list[Any] = [
    {"sku": "A-1", "name": "Kabel \u00e9\u4e2d \U0001f600", "price": Decimal("9.99"), "available": 3, "in_stock": True},
    {"at": datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC), "id": uuid.UUID(int=7), "none": None, "list": [1, 2.5]},
    {"stream_versions": {"product-A-1": 3, "inventory-A-1@ams": 2}, "nested": {"deep": [{"x": "y"}]}},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_ndjson_lines_decode_to_the_same_values(document: dict[str, Any]) -> None:
    action = {"index": {"_index": "products", "_id": "A-1", "if_seq_no": 4, "if_primary_term": 1}}
    ours = OrjsonNdjsonSerializer().dumps([action, document])
    theirs = NdjsonSerializer().dumps([action, document])
    assert ours.endswith(b"\n") and ours.count(b"\n") == 2
    assert [orjson.loads(line) for line in ours.splitlines()] == [orjson.loads(line) for line in theirs.splitlines()]
    assert OrjsonNdjsonSerializer().loads(ours) == NdjsonSerializer().loads(theirs)


def test_client_uses_orjson_for_json_and_ndjson_including_compatibility_mimetypes() -> None:
    client = elasticsearch_client("http://127.0.0.1:9200", 5)
    serializers = client.transport.serializers
    for mimetype in (
        "application/json",
        "application/vnd.elasticsearch+json",
        "application/x-ndjson",
        "application/vnd.elasticsearch+x-ndjson",
    ):
        dumped = serializers.dumps(DOCUMENTS[1] if "ndjson" not in mimetype else [DOCUMENTS[1]], mimetype)
        expected = JsonSerializer().dumps(DOCUMENTS[1])
        assert orjson.loads(dumped.splitlines()[0]) == orjson.loads(expected), mimetype
        orjson_kind = OrjsonNdjsonSerializer if "ndjson" in mimetype else OrjsonSerializer
        assert isinstance(serializers.get_serializer(mimetype), orjson_kind), mimetype
