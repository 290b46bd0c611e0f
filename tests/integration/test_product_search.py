"""Shopper search and autocomplete on the real Elasticsearch, through the search API's routes (in process, lifespan
running): highlighting, suggestions (typos, never a discontinued product), and the ranking signals (in stock above
out of stock, the product itself above an accessory that mentions it).

The products index is made from the real mapping (projector.elastic.ensure_alias) under a prefix of this module,
and its documents by the real projection code (projector.projections.products) from product events and the
inventory events the write side's inventory decides, as the projector makes them.
"""

from __future__ import annotations

import gc
import itertools
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from elasticsearch import AsyncElasticsearch

from projector.elastic import ensure_alias
from projector.projections import Document
from projector.projections.products import apply, fold, unit_of
from search_api.main import create_app
from search_api.queries.products import ProductSearch, build_search
from search_api.queries.ranking import RANKING
from search_api.settings import SearchApiSettings
from shared.events.envelope import Envelope
from shared.events.payloads import (
    EventPayload,
    Money,
    ProductDiscontinued,
    ProductRegistered,
)
from shared.read_models import Projection, alias_name
from tests.conftest import Namespace
from write_api.commands import AdjustStock, InventoryCommand, ReceiveStock
from write_api.domain import inventory

_positions = itertools.count(1)


def envelope(payload: EventPayload, stream_type: str, version: int) -> Envelope:
    n = next(_positions)
    return Envelope(
        event_id=uuid.uuid4(),
        stream_id=f"{stream_type}-{payload.sku}",  # type: ignore[attr-defined]
        stream_type=stream_type,
        version=version,
        global_position=n,
        transaction_id=n,
        event_type=payload.TYPE,
        schema_version=payload.SCHEMA_VERSION,
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
        data=payload.to_json(),
        metadata={},
    )


def product(sku: str, name: str, description: str | None = None, **stock: int) -> Document:
    """The document the projection makes of a registration, then of the inventory's events (as the write side's
    inventory decides them) for a receipt per warehouse in `stock` (a quantity of 0 is received and then written
    off: out of stock in that warehouse)."""
    price = Money(amount=Decimal("9.90"), currency="USD")
    registered = ProductRegistered(sku=sku, name=name, description=description, brand="Quokkaware", price=price)
    events = [envelope(registered, "product", 1)]
    state: inventory.Inventory | None = None
    commands: list[InventoryCommand] = []
    for warehouse, quantity in stock.items():
        commands.append(ReceiveStock(sku, warehouse, 5))
        if quantity < 5:
            commands.append(AdjustStock(sku, warehouse, quantity - 5, "damaged"))
    for command in commands:
        for event in inventory.decide(command, state):
            state = inventory.evolve(state, event)
            events.append(envelope(event, "inventory", len(events)))
    folded = fold(sku, {}, [(i, e) for i, e in enumerate(events) if unit_of(e)])  # what reaches the projection
    assert not (folded.early or folded.poison), folded
    return folded.changed[sku]


def discontinued(doc: Document) -> Document:
    found = apply(doc, envelope(ProductDiscontinued(sku=doc["sku"]), "product", 2))
    assert found is not None and found["status"] == "discontinued"
    return found


CATALOGUE = [
    product("HL-1", "Quokkaware Velvet audio cable 2 m", "Braided velvet cable for studio monitors", ams=10),
    product("SG-1", "Quokkaware Kettlebell trainer set", "Cast iron kettlebells", ams=3),
    discontinued(product("SG-2", "Quokkaware Kettlebell rack", "Holds six kettlebells", ams=3)),
    product("ST-IN", "Quokkaware Lumen desk lamp", "Warm light", ams=2),  # equal text, in stock
    product("ST-OUT", "Quokkaware Lumen desk lamp", "Warm light", ber=0),  # equal text, out of stock everywhere
    product("ST-NONE", "Quokkaware Lumen desk lamp", "Warm light"),  # equal text, never received
    # A main product's title carries its specifications; an accessory's names what it fits, twice.
    product("TY-1", "Quokkaware Tandem blender 1.5 l 600 W Steel", "Blends soups", ams=1),
    product("TY-2", "Quokkaware Blender jar for the Tandem blender", "Spare blender jar", ams=1),
]


@dataclass
class SearchApi:
    client: httpx.AsyncClient
    es: AsyncElasticsearch
    index: str

    async def search(self, q: str) -> list[dict[str, Any]]:
        response = await self.client.get("/products/search", params={"q": q})
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    async def suggest(self, q: str) -> list[str]:
        response = await self.client.get("/products/suggest", params={"q": q})
        assert response.status_code == 200, response.text
        return [s["sku"] for s in response.json()["suggestions"]]


@pytest_asyncio.fixture(scope="module")
async def api(namespace: Namespace) -> AsyncIterator[SearchApi]:
    prefix = f"{namespace.elasticsearch_prefix}search{secrets.token_hex(3)}-"
    es = AsyncElasticsearch(namespace.elasticsearch_url, request_timeout=30)
    try:
        index, _ = await ensure_alias(es, prefix, Projection.PRODUCTS)
        for doc in CATALOGUE:
            await es.index(index=index, id=doc["sku"], document=doc)
        await es.indices.refresh(index=alias_name(prefix, Projection.PRODUCTS))
        settings = SearchApiSettings(elasticsearch_url=namespace.elasticsearch_url, elasticsearch_prefix=prefix)
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://search") as client,
        ):
            yield SearchApi(client, es, alias_name(prefix, Projection.PRODUCTS))
    finally:
        gc.unfreeze()  # the app's start froze this test process's objects out of the collector's reach
        await es.indices.delete(index=f"{prefix}*")
        await es.close()


async def test_matched_words_are_marked_in_the_name_and_the_description(api: SearchApi) -> None:
    [item] = [i for i in await api.search("velvet cable") if i["sku"] == "HL-1"]
    assert item["highlight"]["name"] == ["Quokkaware <em>Velvet</em> audio <em>cable</em> 2 m"]
    [description] = item["highlight"]["description"]
    assert "<em>velvet</em>" in description.lower() and "<em>cable</em>" in description.lower()
    assert "<em>studio</em>" not in description  # only what was searched for


async def test_autocomplete_offers_a_product_for_a_prefix_and_for_a_prefix_with_a_typo(api: SearchApi) -> None:
    assert "HL-1" in await api.suggest("quokkaware vel")
    assert "SG-1" in await api.suggest("quokkaware kettleb")
    assert "SG-1" in await api.suggest("qoukkaware kettleb")  # two letters swapped: one edit
    assert "SG-1" in await api.suggest("quokkaware ketlteb")


async def test_autocomplete_never_offers_a_discontinued_product(api: SearchApi) -> None:
    for prefix in ("quokkaware kettlebell r", "quokkaware kettlebell", "qoukkaware kettleb", "quokkaware"):
        assert "SG-2" not in await api.suggest(prefix)
    assert "SG-2" not in [i["sku"] for i in await api.search("kettlebell rack")]
    assert "SG-1" in await api.suggest("quokkaware kettlebell")  # its sibling still is


async def test_in_stock_ranks_above_out_of_stock_for_equal_text_and_out_of_stock_still_appears(api: SearchApi) -> None:
    items = {i["sku"]: i for i in await api.search("lumen desk lamp")}
    assert set(items) >= {"ST-IN", "ST-OUT", "ST-NONE"}
    assert [items[s]["in_stock"] for s in ("ST-IN", "ST-OUT", "ST-NONE")] == [True, False, False]
    ranked = [sku for sku in items if sku.startswith("ST-")]
    assert ranked[0] == "ST-IN"
    # Higher in the score itself, not only by the sort's tie-break: by the in-stock factor.
    assert items["ST-IN"]["score"] == pytest.approx(items["ST-OUT"]["score"] * RANKING.in_stock, rel=1e-4)
    assert items["ST-OUT"]["score"] == pytest.approx(items["ST-NONE"]["score"], rel=1e-6)


async def test_the_product_itself_ranks_above_an_accessory_that_mentions_it(api: SearchApi) -> None:
    ranked = [i["sku"] for i in await api.search("blender")]
    assert ranked.index("TY-1") < ranked.index("TY-2")  # the jar's type is "jar"
    # On its words alone the jar would come first: it says "blender" twice in a shorter name, and in its description.
    text_only = build_search(ProductSearch(q="blender"), replace(RANKING, product_type=1.0))
    hits = (await api.es.search(index=api.index, body=text_only))["hits"]["hits"]
    assert [h["_id"] for h in hits if h["_id"].startswith("TY-")] == ["TY-2", "TY-1"]
    assert (await api.search("blender jar"))[0]["sku"] == "TY-2"  # a shopper asking for the jar gets it
