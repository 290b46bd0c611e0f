"""What kind of product a product is (projector/projections/product_type.py) and the plural folding both sides share
(shared/type_words.py): pure."""

from __future__ import annotations

import pytest

from projector.projections.product_type import heads, title_head, title_type, type_heads
from shared.type_words import singular


@pytest.mark.parametrize(
    ("word", "folded"),
    [
        ("cables", "cable"),
        ("batteries", "battery"),
        ("switches", "switch"),
        ("boxes", "box"),
        ("tvs", "tv"),
        ("ties", "tie"),
        ("glass", "glass"),
        ("stylus", "stylus"),
        ("chassis", "chassis"),
        ("tv", "tv"),
    ],
)
def test_singular(word: str, folded: str) -> None:
    assert singular(word) == folded


@pytest.mark.parametrize(
    ("phrase", "found"),
    [
        ("Notebook stand", ["stand"]),
        ("Cases and bags", ["case", "bag"]),
        ("power adapter/inverter", ["adapter", "inverter"]),
        ("printer/scanner spare part", ["part"]),
        ("Headphones", ["headphone"]),
    ],
)
def test_the_heads_of_a_type_are_its_last_words(phrase: str, found: list[str]) -> None:
    assert heads(phrase) == found


def test_an_icecat_title_names_the_type_after_the_model() -> None:
    assert title_type("Lexmark 08A0476 toner cartridge Original Black 1 pc(s)", "08A0476") == "toner cartridge"
    assert title_type("Integral EVO USB flash drive 4 GB USB Type-A 2 Blue", "EVO") == "USB flash drive"
    assert title_type("HP 14 Original Black", "14") is None  # no lower-case words after the model
    assert title_type("Sony ICF-C318 radio", "ICF-404L") is None  # the model is not in the title
    assert title_type("Sony ICF-C318 radio", None) is None


@pytest.mark.parametrize(
    ("title", "brand", "head"),
    [
        ("V7 Battery for select IBM/LENOVO laptops", "V7", "battery"),  # what follows "for" is what it fits
        ("Kensington SmartFit™ Easy Riser™ Laptop Cooling Stand", "Kensington", "stand"),
        ("Lenovo IdeaPad S340 Notebook Pink 35.6 cm", "Lenovo", "notebook"),  # colour, figure, unit
        ("HP 146GB Ultra320 SCSI 15000 rpm Hard Drive", "HP", "drive"),
        ("Sandberg USB Hub AluGear (7 ports)", "Sandberg", "hub"),  # a product-line name is no type
        ("Xerox Black toner cartridge. Equivalent to HP C9700A", "Xerox", "cartridge"),
        ("Case Logic", "Case Logic", None),  # only the brand
    ],
)
def test_a_title_without_a_catalogue_type_ends_with_its_head(title: str, brand: str, head: str | None) -> None:
    assert title_head(title, brand) == head


def test_the_most_precise_source_wins() -> None:
    cart = "V7 Height Adjustable TV Cart"
    assert type_heads(cart, "V7", "Height Adjustable TV Cart", "TV stand") == ["stand"]  # the catalogue's category
    assert type_heads("Lexmark 08A0476 toner cartridge Original Black", "Lexmark", "08A0476", None) == ["cartridge"]
    assert type_heads(cart, "V7", "Height Adjustable TV Cart", None) == ["cart"]  # the title's head: not a TV
    assert type_heads("HP 14 Original Black", "HP", "14", None) == []
