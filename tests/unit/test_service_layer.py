"""The service layer on the in-memory event store: load (snapshot + newer events), decide, append, idempotency."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from shared.events.payloads import Money, ProductDetailsChanged, ProductPriceChanged, ProductRegistered
from shared.events.registry import decode
from write_api.commands import ChangeProductDetails, ChangeProductPrice, DiscontinueProduct, RegisterProduct
from write_api.domain import errors, products
from write_api.event_store.errors import WrongExpectedVersion
from write_api.event_store.in_memory import InMemoryEventStore
from write_api.event_store.records import START, NewEvent, StreamAppend
from write_api.service_layer import COMMAND_HANDLERS, dispatch, loading
from write_api.service_layer.commit import CommandContext, IdempotencyRequest, Outcome
from write_api.service_layer.loading import load

SKU = "SKU-1"
STREAM = products.stream_id(SKU)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def register(sku: str = SKU, name: str = "HDMI cable", price: str = "9.90") -> RegisterProduct:
    return RegisterProduct(sku=sku, name=name, price=usd(price), brand="Acme", attributes={"model": "HC-2"})


def respond(outcome: Outcome[Any]) -> dict[str, Any]:
    assert outcome.state is not None
    return {"sku": outcome.state.sku, "version": outcome.version, "position": outcome.position}


def fold(events: list[Any]) -> products.Product | None:
    state: products.Product | None = None
    for event in events:
        state = products.evolve(state, decode(event.event_type, event.schema_version, event.data))
    return state


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


async def test_register_appends_product_registered_at_version_1(store: InMemoryEventStore) -> None:
    outcome = await dispatch(store, register(), CommandContext(metadata={"actor": "catalog"}))
    assert outcome.version == 1
    assert outcome.state == products.Product(
        sku=SKU, name="HDMI cable", price=usd("9.90"), brand="Acme", attributes={"model": "HC-2"}
    )
    assert [type(e) for e in outcome.events] == [ProductRegistered]
    [recorded] = await store.read_stream(STREAM)
    assert (recorded.version, recorded.stream_type, recorded.event_type) == (1, "product", "ProductRegistered")
    assert recorded.schema_version == ProductRegistered.SCHEMA_VERSION
    assert recorded.metadata == {"actor": "catalog"}
    assert outcome.position == recorded.transaction_id
    assert decode(recorded.event_type, recorded.schema_version, recorded.data) == outcome.events[0]


async def test_each_write_returns_the_new_version_and_a_later_position(store: InMemoryEventStore) -> None:
    first = await dispatch(store, register(), CommandContext())
    second = await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("5.00")), CommandContext())
    third = await dispatch(store, DiscontinueProduct(sku=SKU), CommandContext())
    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert first.position < second.position < third.position
    assert third.state is not None and third.state.discontinued and third.state.price == usd("5.00")


async def test_domain_error_appends_nothing(store: InMemoryEventStore) -> None:
    await dispatch(store, register(), CommandContext())
    with pytest.raises(errors.AlreadyExists):
        await dispatch(store, register(name="again"), CommandContext())
    with pytest.raises(errors.NotFound):
        await dispatch(store, DiscontinueProduct(sku="nope"), CommandContext())
    assert len(await store.read_stream(STREAM)) == 1
    assert await store.read_stream(products.stream_id("nope")) == []


async def test_if_match_mismatch_is_a_version_conflict_and_appends_nothing(store: InMemoryEventStore) -> None:
    await dispatch(store, register(), CommandContext())
    for expected in (0, 2, 7):
        with pytest.raises(errors.VersionConflict) as raised:
            await dispatch(
                store, ChangeProductPrice(sku=SKU, price=usd("1.00")), CommandContext(expected_version=expected)
            )
        assert raised.value.details == {"expected": expected, "actual": 1}
    assert [e.version for e in await store.read_stream(STREAM)] == [1]
    # The matching version goes through.
    outcome = await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("1.00")), CommandContext(expected_version=1))
    assert outcome.version == 2


async def test_if_match_on_a_new_stream(store: InMemoryEventStore) -> None:
    with pytest.raises(errors.VersionConflict):
        await dispatch(store, register(), CommandContext(expected_version=1))
    assert await store.read_stream(STREAM) == []
    assert (await dispatch(store, register(), CommandContext(expected_version=0))).version == 1


async def test_command_without_events_appends_nothing_and_returns_current_version_and_position(
    store: InMemoryEventStore,
) -> None:
    await dispatch(store, register(), CommandContext())
    changed = await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("3.00")), CommandContext())
    # Another stream moves the store's position on.
    other = await dispatch(store, register(sku="OTHER"), CommandContext())
    assert other.position > changed.position
    before = await store.read_all(START, 100)

    unchanged = await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("3.00")), CommandContext())

    assert unchanged.events == []
    assert (unchanged.version, unchanged.position) == (2, changed.position)
    assert unchanged.state == changed.state
    after = await store.read_all(START, 100)
    assert after.events == before.events


async def test_idempotency_record_saved_with_the_append(store: InMemoryEventStore) -> None:
    request = IdempotencyRequest("key-1", "hash-1", 201, respond)
    outcome = await dispatch(store, register(), CommandContext(idempotency=request))
    record = await store.get_idempotency("key-1")
    assert record is not None
    assert (record.key, record.request_hash, record.status_code) == ("key-1", "hash-1", 201)
    assert record.response == {"sku": SKU, "version": 1, "position": outcome.position}


async def test_idempotency_record_saved_for_a_command_without_events(store: InMemoryEventStore) -> None:
    first = await dispatch(store, register(), CommandContext())
    request = IdempotencyRequest("key-2", "hash-2", 200, respond)
    outcome = await dispatch(
        store, ChangeProductDetails(sku=SKU, changes={"name": "HDMI cable"}), CommandContext(idempotency=request)
    )
    assert outcome.events == []
    record = await store.get_idempotency("key-2")
    assert record is not None
    assert record.response == {"sku": SKU, "version": 1, "position": first.position}
    assert len(await store.read_stream(STREAM)) == 1


async def test_no_idempotency_record_when_the_command_is_refused(store: InMemoryEventStore) -> None:
    request = IdempotencyRequest("key-3", "hash-3", 200, respond)
    with pytest.raises(errors.NotFound):
        await dispatch(store, DiscontinueProduct(sku=SKU), CommandContext(idempotency=request))
    assert await store.get_idempotency("key-3") is None


async def test_load_of_a_new_stream(store: InMemoryEventStore) -> None:
    loaded = await load(store, loading.PRODUCT, SKU)
    assert (loaded.state, loaded.version, loaded.position) == (None, 0, 0)


async def test_load_equals_folding_the_events(store: InMemoryEventStore) -> None:
    await dispatch(store, register(), CommandContext())
    await dispatch(store, ChangeProductDetails(sku=SKU, changes={"brand": None, "category": "Video"}), CommandContext())
    last = await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("4.00")), CommandContext())
    events = await store.read_stream(STREAM)
    loaded = await load(store, loading.PRODUCT, SKU)
    assert loaded.state == fold(events)
    assert (loaded.version, loaded.position) == (3, last.position)
    snapshot = await store.load_snapshot(STREAM)
    assert snapshot is not None and snapshot.version == 3
    assert snapshot.schema_version == products.SNAPSHOT_SCHEMA_VERSION
    assert products.Product.from_snapshot(snapshot.state) == loaded.state


def _append(stream_version: int, *events: Any, snapshot: dict[str, Any] | None, schema_version: int) -> StreamAppend:
    return StreamAppend(
        stream_id=STREAM,
        stream_type=products.STREAM_TYPE,
        expected_version=stream_version,
        events=tuple(NewEvent(e.TYPE, e.SCHEMA_VERSION, e.to_json()) for e in events),
        snapshot=snapshot,
        snapshot_schema_version=schema_version,
    )


async def test_load_starts_from_the_snapshot_and_folds_only_newer_events(store: InMemoryEventStore) -> None:
    registered = ProductRegistered(sku=SKU, name="From events", price=usd("1.00"))
    # A snapshot that differs from what the events fold to: if load() uses it, the state shows it.
    marked = products.Product(sku=SKU, name="From snapshot", price=usd("1.00"), brand="snap")
    result = await store.append([_append(0, registered, snapshot=marked.to_snapshot(), schema_version=1)])
    loaded = await load(store, loading.PRODUCT, SKU)
    assert loaded.state == marked
    assert (loaded.version, loaded.position) == (1, result.position)

    # Newer events without a snapshot are folded on top of it.
    later = await store.append(
        [
            _append(
                1,
                ProductPriceChanged(sku=SKU, price=usd("2.00"), previous=usd("1.00")),
                snapshot=None,
                schema_version=1,
            )
        ]
    )
    loaded = await load(store, loading.PRODUCT, SKU)
    assert loaded.state == replace(marked, price=usd("2.00"))
    assert (loaded.version, loaded.position) == (2, later.position)


async def test_snapshot_of_another_schema_version_is_ignored(store: InMemoryEventStore) -> None:
    registered = ProductRegistered(sku=SKU, name="From events", price=usd("1.00"))
    changed = ProductDetailsChanged(sku=SKU, changes={"brand": "Acme"})
    stale = {"layout": "of another schema version"}  # from_snapshot would fail on it
    result = await store.append(
        [_append(0, registered, changed, snapshot=stale, schema_version=products.SNAPSHOT_SCHEMA_VERSION + 1)]
    )
    loaded = await load(store, loading.PRODUCT, SKU)
    assert loaded.state == products.Product(sku=SKU, name="From events", price=usd("1.00"), brand="Acme")
    assert (loaded.version, loaded.position) == (2, result.position)


async def test_commands_are_decided_against_the_snapshot_state(store: InMemoryEventStore) -> None:
    registered = ProductRegistered(sku=SKU, name="From events", price=usd("1.00"))
    marked = products.Product(sku=SKU, name="From snapshot", price=usd("1.00"))
    await store.append([_append(0, registered, snapshot=marked.to_snapshot(), schema_version=1)])
    # The snapshot's name is the current one, so "changing" to it is no change; the events' name would be.
    same = await dispatch(store, ChangeProductDetails(sku=SKU, changes={"name": "From snapshot"}), CommandContext())
    assert same.events == [] and same.version == 1 and same.state == marked
    back = await dispatch(store, ChangeProductDetails(sku=SKU, changes={"name": "From events"}), CommandContext())
    assert back.events == [ProductDetailsChanged(sku=SKU, changes={"name": "From events"})]
    assert back.version == 2


async def test_load_many_loads_each_stream(store: InMemoryEventStore) -> None:
    await dispatch(store, register(sku="A", name="a"), CommandContext())
    await dispatch(store, register(sku="B", name="b"), CommandContext())
    loaded = await loading.load_many(store, loading.PRODUCT, ["A", "B", "C"])
    assert {k: (v.state.name if v.state else None, v.version) for k, v in loaded.items()} == {
        "A": ("a", 1),
        "B": ("b", 1),
        "C": (None, 0),
    }


async def test_a_lost_race_is_decided_again(store: InMemoryEventStore) -> None:
    await dispatch(store, register(), CommandContext())
    real_append = store.append
    raced = False

    async def append_after_a_rival(appends: list[StreamAppend], idempotency: Any = None, reads: Any = None) -> Any:
        nonlocal raced
        if not raced:
            raced = True  # a rival appends between our load and our append
            rival = ProductDetailsChanged(sku=SKU, changes={"brand": "Racer"})
            await real_append([_append(1, rival, snapshot=None, schema_version=1)])
        return await real_append(appends, idempotency, reads)

    store.append = append_after_a_rival  # type: ignore[method-assign]
    outcome = await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("2.00")), CommandContext())
    assert outcome.version == 3
    assert outcome.state is not None and (outcome.state.brand, outcome.state.price) == ("Racer", usd("2.00"))
    assert [e.event_type for e in await store.read_stream(STREAM)] == [
        "ProductRegistered",
        "ProductDetailsChanged",
        "ProductPriceChanged",
    ]
    loaded = await load(store, loading.PRODUCT, SKU)
    assert loaded.state == outcome.state


def test_every_product_command_has_a_handler() -> None:
    assert set(COMMAND_HANDLERS) >= {
        RegisterProduct,
        ChangeProductDetails,
        ChangeProductPrice,
        DiscontinueProduct,
    }


async def test_a_lost_race_under_if_match_is_not_retried(store: InMemoryEventStore) -> None:
    await dispatch(store, register(), CommandContext())
    real_append = store.append

    async def append_after_a_rival(appends: list[StreamAppend], idempotency: Any = None, reads: Any = None) -> Any:
        rival = ProductDetailsChanged(sku=SKU, changes={"brand": f"Racer {len(await store.read_stream(STREAM))}"})
        await real_append([_append(len(await store.read_stream(STREAM)), rival, snapshot=None, schema_version=1)])
        return await real_append(appends, idempotency, reads)

    store.append = append_after_a_rival  # type: ignore[method-assign]
    with pytest.raises(WrongExpectedVersion):
        await dispatch(store, ChangeProductPrice(sku=SKU, price=usd("2.00")), CommandContext(expected_version=1))
    # Only the rival's event: ours was never appended, and not decided again.
    assert [e.event_type for e in await store.read_stream(STREAM)] == ["ProductRegistered", "ProductDetailsChanged"]


async def test_inventory_events_are_numbered_per_warehouse_across_commands_and_snapshots() -> None:
    from shared.events.payloads import Address, Customer
    from write_api.commands import OrderLineRequest, PlaceOrder, ReceiveStock

    store = InMemoryEventStore()
    context = CommandContext()
    await dispatch(store, RegisterProduct(sku="W-1", name="Widget", price=usd("1.00")), context)
    for warehouse in ("ams", "ber", "ams"):
        await dispatch(store, ReceiveStock(sku="W-1", warehouse=warehouse, quantity=2), context)
    order = PlaceOrder(
        order_id="o-1",
        customer=Customer(id="c", name="N", email="n@example.com"),
        shipping_address=Address(name="N", line1="L", city="C", postal_code="1", country="DE"),
        lines=(OrderLineRequest(sku="W-1", quantity=3), OrderLineRequest(sku="W-1", quantity=1)),
    )
    await dispatch(store, order, context)
    numbered = [(e.data["warehouse"], e.data["warehouse_version"]) for e in await store.read_stream("inventory-W-1")]
    per_warehouse: dict[str, list[int]] = {}
    for warehouse, number in numbered:
        per_warehouse.setdefault(warehouse, []).append(number)
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in per_warehouse.values()), numbered
    # 3 receipts, 2 warehouses put in stock by their first, 2 reservations (both warehouses keep stock)
    assert len(numbered) == 7
