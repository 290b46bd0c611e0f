"""The product aggregate: given events -> when command -> then events (or the error), all pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from shared.events.payloads import (
    EventPayload,
    Money,
    ProductDetailsChanged,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
)
from write_api.commands import (
    ChangeProductDetails,
    ChangeProductPrice,
    DiscontinueProduct,
    ProductCommand,
    RegisterProduct,
)
from write_api.domain import errors, products
from write_api.domain.products import Product, decide, evolve

SKU = "SKU-1"


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def registered(**overrides: Any) -> ProductRegistered:
    fields: dict[str, Any] = {
        "sku": SKU,
        "name": "HDMI cable 2 m",
        "description": "A <b>cable</b>",
        "brand": "Acme",
        "category": "Cables",
        "price": usd("9.90"),
        "attributes": {"model": "HC-2", "length": "2 m"},
    }
    fields.update(overrides)
    return ProductRegistered(**fields)


def given(events: Sequence[EventPayload]) -> Product | None:
    state: Product | None = None
    for event in events:
        state = evolve(state, event)
    return state


def when(given_events: Sequence[EventPayload], command: ProductCommand) -> list[EventPayload]:
    return decide(command, given(given_events))


def register_command(**overrides: Any) -> RegisterProduct:
    fields: dict[str, Any] = {
        "sku": SKU,
        "name": "HDMI cable 2 m",
        "price": usd("9.90"),
        "description": "A <b>cable</b>",
        "brand": "Acme",
        "category": "Cables",
        "attributes": {"model": "HC-2"},
    }
    fields.update(overrides)
    return RegisterProduct(**fields)


# ------------------------------------------------------------------------------------------------ RegisterProduct
def test_register_new_product_emits_product_registered() -> None:
    command = register_command()
    assert when([], command) == [
        ProductRegistered(
            sku=SKU,
            name="HDMI cable 2 m",
            description="A <b>cable</b>",
            brand="Acme",
            category="Cables",
            price=usd("9.90"),
            attributes={"model": "HC-2"},
        )
    ]


def test_register_with_only_required_fields() -> None:
    [event] = when([], RegisterProduct(sku="X", name="Thing", price=Money(amount=Decimal("0"), currency="EUR")))
    assert isinstance(event, ProductRegistered)
    assert (event.sku, event.name, event.price.currency, event.price.amount) == ("X", "Thing", "EUR", Decimal(0))
    assert (event.description, event.brand, event.category, event.attributes) == (None, None, None, {})


def test_register_existing_product_is_refused() -> None:
    with pytest.raises(errors.AlreadyExists) as raised:
        when([registered()], register_command(name="Other"))
    assert raised.value.code == "already_exists"
    assert raised.value.details == {"sku": SKU}


def test_register_discontinued_product_is_still_already_exists() -> None:
    with pytest.raises(errors.AlreadyExists):
        when([registered(), ProductDiscontinued(sku=SKU)], register_command())


def test_registered_event_evolves_into_state() -> None:
    state = given([registered()])
    assert state == Product(
        sku=SKU,
        name="HDMI cable 2 m",
        price=usd("9.90"),
        description="A <b>cable</b>",
        brand="Acme",
        category="Cables",
        attributes={"model": "HC-2", "length": "2 m"},
        discontinued=False,
    )


# ------------------------------------------------------------------------------------------- ChangeProductDetails
def test_change_details_emits_only_the_changed_fields() -> None:
    command = ChangeProductDetails(
        sku=SKU,
        changes={"name": "HDMI cable 2 m", "brand": "Globex", "description": "A <b>cable</b>", "category": "Video"},
    )
    assert when([registered()], command) == [
        ProductDetailsChanged(sku=SKU, changes={"brand": "Globex", "category": "Video"})
    ]


def test_change_details_can_clear_an_optional_field() -> None:
    [event] = when([registered()], ChangeProductDetails(sku=SKU, changes={"brand": None}))
    assert event == ProductDetailsChanged(sku=SKU, changes={"brand": None})
    state = given([registered(), event])
    assert state is not None and state.brand is None


def test_change_details_attributes_replace_the_whole_map() -> None:
    [event] = when([registered()], ChangeProductDetails(sku=SKU, changes={"attributes": {"model": "HC-3"}}))
    state = given([registered(), event])
    assert state is not None and state.attributes == {"model": "HC-3"}


def test_change_details_ignores_fields_that_are_not_details() -> None:
    command = ChangeProductDetails(sku=SKU, changes={"sku": "OTHER", "price": "1.00", "discontinued": True})
    assert when([registered()], command) == []


def test_change_details_without_a_change_emits_nothing() -> None:
    command = ChangeProductDetails(
        sku=SKU, changes={"name": "HDMI cable 2 m", "attributes": {"model": "HC-2", "length": "2 m"}}
    )
    assert when([registered()], command) == []
    assert when([registered()], ChangeProductDetails(sku=SKU, changes={})) == []


def test_change_details_sees_earlier_changes() -> None:
    history = [registered(), ProductDetailsChanged(sku=SKU, changes={"name": "New name"})]
    assert when(history, ChangeProductDetails(sku=SKU, changes={"name": "New name"})) == []
    assert when(history, ChangeProductDetails(sku=SKU, changes={"name": "HDMI cable 2 m"})) == [
        ProductDetailsChanged(sku=SKU, changes={"name": "HDMI cable 2 m"})
    ]


def test_change_details_of_unknown_product_is_not_found() -> None:
    with pytest.raises(errors.NotFound) as raised:
        when([], ChangeProductDetails(sku=SKU, changes={"name": "x"}))
    assert raised.value.code == "not_found"


def test_change_details_of_discontinued_product_is_refused() -> None:
    with pytest.raises(errors.ProductDiscontinued) as raised:
        when([registered(), ProductDiscontinued(sku=SKU)], ChangeProductDetails(sku=SKU, changes={"name": "x"}))
    assert raised.value.code == "product_discontinued"


def test_clearing_attributes_leaves_an_empty_map() -> None:
    events = when([registered()], ChangeProductDetails(sku=SKU, changes={"attributes": None}))
    state = given([registered(), *events])
    assert state is not None and state.attributes == {}


# --------------------------------------------------------------------------------------------- ChangeProductPrice
def test_change_price_to_the_same_price_emits_nothing() -> None:
    assert when([registered()], ChangeProductPrice(sku=SKU, price=usd("9.90"))) == []
    # 9.9 and 9.90 are the same amount
    assert when([registered()], ChangeProductPrice(sku=SKU, price=Money(amount=Decimal("9.9"), currency="USD"))) == []


def test_change_price_carries_the_previous_price() -> None:
    assert when([registered()], ChangeProductPrice(sku=SKU, price=usd("12.50"))) == [
        ProductPriceChanged(sku=SKU, price=usd("12.50"), previous=usd("9.90"))
    ]


def test_change_price_previous_is_the_latest_price() -> None:
    history = [registered(), ProductPriceChanged(sku=SKU, price=usd("11.00"), previous=usd("9.90"))]
    [event] = when(history, ChangeProductPrice(sku=SKU, price=usd("13.00")))
    assert isinstance(event, ProductPriceChanged)
    assert event.previous == usd("11.00")
    before, after = given(history), given([*history, event])
    assert before is not None and after == replace(before, price=usd("13.00"))


def test_change_of_currency_is_a_change() -> None:
    eur = Money(amount=Decimal("9.90"), currency="EUR")
    assert when([registered()], ChangeProductPrice(sku=SKU, price=eur)) == [
        ProductPriceChanged(sku=SKU, price=eur, previous=usd("9.90"))
    ]


def test_change_price_of_unknown_product_is_not_found() -> None:
    with pytest.raises(errors.NotFound):
        when([], ChangeProductPrice(sku=SKU, price=usd("1.00")))


def test_change_price_of_discontinued_product_is_refused() -> None:
    with pytest.raises(errors.ProductDiscontinued):
        when([registered(), ProductDiscontinued(sku=SKU)], ChangeProductPrice(sku=SKU, price=usd("1.00")))


# -------------------------------------------------------------------------------------------- DiscontinueProduct
def test_discontinue_emits_discontinued_with_reason() -> None:
    assert when([registered()], DiscontinueProduct(sku=SKU, reason="end of life")) == [
        ProductDiscontinued(sku=SKU, reason="end of life")
    ]
    state = given([registered(), ProductDiscontinued(sku=SKU)])
    assert state is not None and state.discontinued


def test_discontinue_twice_is_refused() -> None:
    history = [registered(), *when([registered()], DiscontinueProduct(sku=SKU))]
    with pytest.raises(errors.ProductDiscontinued):
        when(history, DiscontinueProduct(sku=SKU))


def test_discontinue_unknown_product_is_not_found() -> None:
    with pytest.raises(errors.NotFound):
        when([], DiscontinueProduct(sku=SKU))


def test_events_before_registration_change_nothing() -> None:
    assert given([ProductPriceChanged(sku=SKU, price=usd("1.00"), previous=usd("2.00"))]) is None
    assert given([ProductDiscontinued(sku=SKU)]) is None


def test_decide_refuses_something_that_is_not_a_product_command() -> None:
    with pytest.raises(TypeError):
        decide(object(), None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------ snapshots
@pytest.mark.parametrize(
    "state",
    [
        Product(
            sku=SKU, name="Full", price=usd("1234.50"), description="d", brand="b", category="c", attributes={"k": "v"}
        ),
        Product(sku="min", name="Minimal", price=Money(amount=Decimal("0"), currency="EUR")),
        Product(sku="gone", name="Gone", price=usd("0.01"), discontinued=True),
    ],
)
def test_snapshot_round_trip(state: Product) -> None:
    snapshot = state.to_snapshot()
    # A snapshot is stored as JSON: it must survive serialisation.
    restored = Product.from_snapshot(json.loads(json.dumps(snapshot)))
    assert restored == state
    assert restored.price.amount == state.price.amount and restored.price.currency == state.price.currency


def test_snapshot_of_evolved_state_round_trips() -> None:
    history = [
        registered(),
        ProductDetailsChanged(sku=SKU, changes={"brand": None, "name": "Renamed"}),
        ProductPriceChanged(sku=SKU, price=usd("5.00"), previous=usd("9.90")),
        ProductDiscontinued(sku=SKU),
    ]
    state = given(history)
    assert state is not None
    assert Product.from_snapshot(state.to_snapshot()) == state
    assert state.to_snapshot()["price"] == {"amount": "5.00", "currency": "USD"}


def test_stream_id_and_type() -> None:
    assert products.stream_id("ABC") == "product-ABC"
    assert products.STREAM_TYPE == "product"
