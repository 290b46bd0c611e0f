"""Read-model names shared by the projector (which writes them) and the search API (which reads them)."""

from __future__ import annotations

from enum import StrEnum


class Projection(StrEnum):
    PRODUCTS = "products"
    INVENTORY = "inventory"
    ORDERS = "orders"


# The mapping version each projection's index is created from (infra/elasticsearch/<name>.v<N>.json).
# Bumping it and running `python -m projector rebuild <name>` (or `upgrade`, which `make up` runs) moves the alias to
# a new index.
MAPPING_VERSIONS: dict[Projection, int] = {
    Projection.PRODUCTS: 4,
    Projection.INVENTORY: 2,
    Projection.ORDERS: 2,
}

# Index (not behind an alias) holding one document per projection: the read side position it has applied.
POSITIONS_INDEX = "projection-positions"


def alias_name(prefix: str, projection: Projection) -> str:
    return f"{prefix}{projection.value}"


def positions_index(prefix: str) -> str:
    return f"{prefix}{POSITIONS_INDEX}"
