"""The projector's engine (apply.py, documents.py) against the real Elasticsearch: its index deleted between a
batch's read and its write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from elasticsearch import AsyncElasticsearch

from projector.apply import apply_events
from projector.documents import DocumentStore, TransientError
from projector.elastic import create_index, new_index_name
from projector.projections.products import SPEC
from shared.events.payloads import Money, ProductRegistered
from shared.read_models import Projection
from tests.conftest import Namespace
from tests.unit.test_products_projection import envelope


class DeleteBeforeBulk(AsyncElasticsearch):
    """A real client that, once, deletes the index after the batch's documents were read and before its bulk write
    reaches Elasticsearch: what a live projector's in-flight batch meets when `projector rebuild` swaps the alias
    and drops the old index in between."""

    doomed: str | None = None

    async def bulk(self, *args: Any, **kwargs: Any) -> Any:
        if self.doomed is not None:
            await self.indices.delete(index=self.doomed)
            self.doomed = None
        return await super().bulk(*args, **kwargs)


@pytest_asyncio.fixture
async def es(namespace: Namespace) -> AsyncIterator[DeleteBeforeBulk]:
    client = DeleteBeforeBulk(namespace.elasticsearch_url, request_timeout=30)
    try:
        yield client
    finally:
        await client.close()


async def test_write_into_an_index_deleted_meanwhile_is_retried_not_parked(
    es: DeleteBeforeBulk, namespace: Namespace
) -> None:
    prefix = f"{namespace.elasticsearch_prefix}engine-"
    index = new_index_name(prefix, Projection.PRODUCTS)
    await create_index(es, index, Projection.PRODUCTS, 0)
    event = envelope(
        ProductRegistered(sku="GONE-1", name="Gone probe", price=Money(amount=Decimal("9.99"), currency="USD")),
        1,
        stream_id="product-GONE-1",
    )
    es.doomed = index

    # The read found the index, the write does not: a transient failure of the batch (retried), never poison.
    with pytest.raises(TransientError, match="replaced"):
        await apply_events(DocumentStore(es, index), SPEC, [event])
    assert not await es.indices.exists(index=index)  # and nothing auto-created an index of that name
