"""Stored payloads of older schema versions decode into the current payload classes (tolerant reader)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import upcasting
from shared.events.payloads import (
    PRODUCT_EVENTS,
    Money,
    ProductDetailsChanged,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRegistered,
)
from shared.events.registry import EVENT_TYPES, UnknownEventType, decode


def v1_registered(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"sku": "A-1", "name": "Cable", "brand": "Acme", "price_cents": 1999}
    data.update(overrides)
    return data


def test_product_registered_is_at_schema_version_2() -> None:
    assert ProductRegistered.SCHEMA_VERSION == 2


@pytest.mark.parametrize(
    ("cents", "amount"),
    [(1999, "19.99"), (5, "0.05"), (0, "0.00"), (100, "1.00"), (10, "0.10"), (123456789, "1234567.89")],
)
def test_v1_price_cents_become_usd_money(cents: int, amount: str) -> None:
    event = decode("ProductRegistered", 1, v1_registered(price_cents=cents))
    assert isinstance(event, ProductRegistered)
    assert event.price == Money(amount=Decimal(amount), currency="USD")
    assert event.price.cents() == cents
    assert event.to_json()["price"] == {"amount": amount, "currency": "USD"}
    assert (event.sku, event.name, event.brand) == ("A-1", "Cable", "Acme")
    assert "price_cents" not in event.to_json()


def test_upcaster_does_not_change_the_stored_payload() -> None:
    stored = v1_registered()
    decode("ProductRegistered", 1, stored)
    assert stored == v1_registered()


def test_upcast_steps_to_the_current_version() -> None:
    upgraded = upcasting.upcast("ProductRegistered", 1, v1_registered(), 2)
    assert upgraded == {"sku": "A-1", "name": "Cable", "brand": "Acme", "price": {"amount": "19.99", "currency": "USD"}}
    # Already current: nothing to do.
    assert upcasting.upcast("ProductRegistered", 2, {"x": 1}, 2) == {"x": 1}


def test_missing_upcaster_is_an_error() -> None:
    with pytest.raises(ValueError, match="no upcaster"):
        upcasting.upcast("ProductDetailsChanged", 0, {}, 1)


def test_unknown_event_type_raises() -> None:
    with pytest.raises(UnknownEventType):
        decode("ProductTeleported", 1, {"sku": "A-1"})
    assert issubclass(UnknownEventType, KeyError)


@pytest.mark.parametrize(
    "event",
    [
        ProductRegistered(
            sku="A-1",
            name="Cable",
            description="d",
            brand="b",
            category="c",
            price=Money(amount=Decimal("12.30"), currency="EUR"),
            attributes={"model": "M"},
        ),
        ProductDetailsChanged(sku="A-1", changes={"brand": None, "name": "New"}),
        ProductPriceChanged(
            sku="A-1",
            price=Money(amount=Decimal("1.00"), currency="USD"),
            previous=Money(amount=Decimal("2.00"), currency="USD"),
        ),
        ProductDiscontinued(sku="A-1", reason="gone"),
        ProductDiscontinued(sku="A-1"),
    ],
)
def test_current_version_payload_passes_through(event: Any) -> None:
    assert decode(event.TYPE, event.SCHEMA_VERSION, event.to_json()) == event


def test_unknown_fields_are_ignored() -> None:
    current = {"sku": "A-1", "name": "Cable", "price": {"amount": "1.00", "currency": "USD"}, "colour": "red"}
    event = decode("ProductRegistered", 2, current)
    assert event == ProductRegistered(sku="A-1", name="Cable", price=Money(amount=Decimal("1.00"), currency="USD"))
    assert "colour" not in event.to_json()
    old = decode("ProductRegistered", 1, v1_registered(colour="red"))
    assert "colour" not in old.to_json()
    discontinued = decode("ProductDiscontinued", 1, {"sku": "A-1", "by": "someone"})
    assert discontinued == ProductDiscontinued(sku="A-1")


def test_unknown_fields_inside_money_are_ignored() -> None:
    data = {"sku": "A-1", "name": "Cable", "price": {"amount": "1.00", "currency": "USD", "tax_included": True}}
    event = decode("ProductRegistered", 2, data)
    assert isinstance(event, ProductRegistered) and event.price.amount == Decimal("1.00")


def test_invalid_payload_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        decode("ProductRegistered", 2, {"sku": "A-1", "name": "Cable"})  # no price
    with pytest.raises(ValidationError):
        decode(
            "ProductPriceChanged",
            1,
            {
                "sku": "A-1",
                "price": {"amount": "-1", "currency": "USD"},
                "previous": {"amount": "1", "currency": "USD"},
            },
        )


def test_registry_holds_every_product_event_under_its_stable_type() -> None:
    assert {cls.TYPE: cls for cls in PRODUCT_EVENTS} == {k: v for k, v in EVENT_TYPES.items() if v in PRODUCT_EVENTS}
    assert set(EVENT_TYPES) >= {
        "ProductRegistered",
        "ProductDetailsChanged",
        "ProductPriceChanged",
        "ProductDiscontinued",
    }
    for event_type, cls in EVENT_TYPES.items():
        assert event_type == cls.TYPE and "." not in event_type  # never a Python path
