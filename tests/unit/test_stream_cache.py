"""Orders placed from the process's stream cache (in-memory event store): no load when cached, stale entries decided
again on fresh state, the cache bounded and backing off while it keeps going stale."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.events.payloads import Money
from write_api.commands import ChangeProductPrice, DiscontinueProduct, RegisterProduct
from write_api.domain import errors, products
from write_api.event_store.in_memory import InMemoryEventStore
from write_api.service_layer import dispatch
from write_api.service_layer.commit import CommandContext
from write_api.service_layer.loading import INVENTORY, Loaded, load
from write_api.service_layer.stream_cache import StreamCache

SKU = "SKU-1"


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def register(sku: str = SKU, name: str = "HDMI cable", price: str = "9.90") -> RegisterProduct:
    return RegisterProduct(sku=sku, name=name, price=usd(price), brand="Acme", attributes={"model": "HC-2"})


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


# ---------------------------------------------------------------- order placement on the stream cache
def place(order_id: str, *lines: tuple[str, int]) -> Any:
    from shared.events.payloads import Address, Customer
    from write_api.commands import OrderLineRequest, PlaceOrder

    return PlaceOrder(
        order_id=order_id,
        customer=Customer(id="c", name="N", email="n@example.com"),
        shipping_address=Address(name="N", line1="L", city="C", postal_code="1", country="DE"),
        lines=tuple(OrderLineRequest(sku=sku, quantity=quantity) for sku, quantity in lines),
    )


async def stocked(store: InMemoryEventStore, context: CommandContext, sku: str, quantity: int) -> None:
    from write_api.commands import ReceiveStock

    await dispatch(store, register(sku), context)
    await dispatch(store, ReceiveStock(sku=sku, warehouse="ams", quantity=quantity), context)


async def test_orders_are_placed_from_the_cache_without_loading(store: InMemoryEventStore) -> None:
    context = CommandContext(cache=StreamCache())
    await stocked(store, context, SKU, 5)
    loads = 0
    real_load = store.load_streams

    async def counted(stream_ids: list[str]) -> Any:
        nonlocal loads
        loads += 1
        return await real_load(stream_ids)

    store.load_streams = counted  # type: ignore[method-assign]
    await dispatch(store, place("o-1", (SKU, 2)), context)
    await dispatch(store, place("o-2", (SKU, 3)), context)
    assert loads == 0  # the product and its inventory came from the cache, both orders were new
    stock = await load(store, INVENTORY, SKU)
    # received, in stock, reserved 2, reserved 3, out of stock
    assert stock.state is not None and (stock.state.stock("ams").reserved, stock.version) == (5, 5)
    cached = context.cache.get("inventory-" + SKU) if context.cache else None
    assert cached is not None and (cached.version, cached.state) == (stock.version, stock.state)


async def test_a_stale_cached_inventory_fails_the_append_and_is_decided_again(store: InMemoryEventStore) -> None:
    from write_api.commands import ReceiveStock

    cache = StreamCache()
    await stocked(store, CommandContext(cache=cache), SKU, 2)
    # Another process reserves both units: this one's cache still says 2 available, at the old version.
    await dispatch(store, place("elsewhere", (SKU, 2)), CommandContext())
    with pytest.raises(errors.InsufficientStock):
        await dispatch(store, place("o-1", (SKU, 1)), CommandContext(cache=cache))
    stock = await load(store, INVENTORY, SKU)
    assert stock.state is not None and stock.state.stock("ams").reserved == 2  # never oversold
    assert await store.read_stream("order-o-1") == []
    # Stock received elsewhere: the cache (refreshed by the refusal) says 0 available, the store says 3; the refusal
    # decided on the cache is decided again on fresh state, and the order goes through.
    await dispatch(store, ReceiveStock(sku=SKU, warehouse="ams", quantity=3), CommandContext())
    outcome = await dispatch(store, place("o-2", (SKU, 3)), CommandContext(cache=cache))
    assert outcome.state is not None and outcome.state.status == "placed"
    stock = await load(store, INVENTORY, SKU)
    assert stock.state is not None and (stock.state.stock("ams").on_hand, stock.state.stock("ams").reserved) == (5, 5)


async def test_an_order_takes_the_price_the_product_has_when_it_commits(store: InMemoryEventStore) -> None:
    cache = StreamCache()
    await stocked(store, CommandContext(cache=cache), SKU, 10)
    # The price changes in another process: the cached product is stale, the inventory is not.
    await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("12.50")), CommandContext())
    outcome = await dispatch(store, place("o-1", (SKU, 2)), CommandContext(cache=cache))
    assert outcome.state is not None
    assert [line.unit_price for line in outcome.state.lines] == [usd("12.50")]
    assert outcome.state.total == usd("25.00")
    # And a product discontinued elsewhere is refused, though the cache still has it on sale.
    await dispatch(store, DiscontinueProduct(sku=SKU), CommandContext())
    with pytest.raises(errors.ProductDiscontinued):
        await dispatch(store, place("o-2", (SKU, 1)), CommandContext(cache=cache))
    assert await store.read_stream("order-o-2") == []


def test_the_stream_cache_is_bounded_and_keeps_the_newest_version() -> None:
    cache = StreamCache(max_streams=2)
    state = products.Product(sku=SKU, name="n", price=usd("1.00"))
    cache.put("a", Loaded(state, 1, 10))
    cache.put("b", Loaded(state, 1, 11))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", Loaded(state, 1, 12))
    assert (cache.get("a") is not None, cache.get("b"), cache.get("c") is not None) == (True, None, True)
    cache.put("a", Loaded(state, 3, 13))
    cache.put("a", Loaded(state, 2, 14))  # a slower load of an older version does not win
    assert (entry := cache.get("a")) is not None and entry.version == 3
    cache.forget(["a"])
    assert cache.get("a") is None
    off = StreamCache(max_streams=0)
    off.put("a", Loaded(state, 1, 1))
    assert len(off) == 0


def test_a_cache_that_keeps_going_stale_is_only_probed_until_it_pays_again() -> None:
    cache = StreamCache()
    assert cache.worth_trying()
    for _ in range(30):  # another writer keeps moving the streams on
        cache.decided(stale=True)
    tries = [cache.worth_trying() for _ in range(StreamCache.PROBE_EVERY * 3)]
    assert tries.count(True) == 3  # one probe in PROBE_EVERY
    for _ in range(60):  # the probes find fresh entries again
        cache.decided(stale=False)
    assert all(cache.worth_trying() for _ in range(10))
    assert not StreamCache(max_streams=0).worth_trying()


async def test_stale_decisions_on_the_cache_are_counted(store: InMemoryEventStore) -> None:
    cache = StreamCache()
    await stocked(store, CommandContext(cache=cache), SKU, 100)
    await dispatch(store, place("o-1", (SKU, 1)), CommandContext(cache=cache))
    assert cache.stale_share == 0.0
    await dispatch(store, place("elsewhere", (SKU, 1)), CommandContext())  # moves the inventory on
    await dispatch(store, place("o-2", (SKU, 1)), CommandContext(cache=cache))
    assert cache.stale_share > 0.0
