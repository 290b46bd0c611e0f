"""Many commands per request, keyed by SKU: the catalogue import (upsert by SKU) and stock receipts in bulk.

Applied in chunks: each chunk is decided on one load (products and the aggregate's streams) and appended in one
transaction; repeated SKUs in a chunk fold one after the other. An item that cannot be applied is rejected alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from shared.events.payloads import EventPayload
from write_api.commands import ChangeProductDetails, ChangeProductPrice, ReceiveStock, RegisterProduct
from write_api.domain import inventory, products
from write_api.domain.errors import ProductDiscontinued
from write_api.event_store.records import EventStore
from write_api.service_layer.commit import Change, CommandContext, commit, with_retries
from write_api.service_layer.loading import INVENTORY, PRODUCT, Aggregate, Loaded, S, load_many

IMPORT_CHUNK = 500

# decide(command, state, known products) -> (events, outcome label: "created" | "updated" | "unchanged")
BulkDecision = Callable[[Any, Any, dict[str, Loaded[products.Product]]], tuple[list[EventPayload], str]]


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    position: int = 0

    def add(self, other: ImportResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)
        self.position = max(self.position, other.position)


class Rejected(Exception):
    """One item of a bulk request that cannot be applied; the others go ahead."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message}


async def import_products(
    store: EventStore, items: list[tuple[int, RegisterProduct]], context: CommandContext
) -> ImportResult:
    """Upsert products by SKU (`POST /products/import`)."""
    return await apply_bulk(store, PRODUCT, list(items), _upsert_product, context, "ImportProducts")


async def receive_many(
    store: EventStore, items: list[tuple[int, ReceiveStock]], context: CommandContext
) -> ImportResult:
    """Stock receipts in bulk, a delivery or a stock take (`POST /inventory/receipts`)."""
    return await apply_bulk(store, INVENTORY, list(items), _receive, context, "ReceiveStockBatch")


async def apply_bulk(
    store: EventStore,
    aggregate: Aggregate[S],
    items: list[tuple[int, Any]],
    decide: BulkDecision,
    context: CommandContext,
    name: str,
) -> ImportResult:
    result = ImportResult()
    # The key is recorded once, for the whole request (by the route).
    commit_context = CommandContext(metadata=context.metadata, locks=context.locks, cache=context.cache)
    for start in range(0, len(items), IMPORT_CHUNK):
        chunk = items[start : start + IMPORT_CHUNK]
        skus = list(dict.fromkeys(command.sku for _, command in chunk))
        apply = partial(_apply_chunk, store, aggregate, chunk, skus, decide, commit_context)
        async with context.locks.hold([aggregate.stream_id(sku) for sku in skus]):
            result.add(await with_retries(name, context, apply))
    return result


async def _apply_chunk(
    store: EventStore,
    aggregate: Aggregate[S],
    chunk: list[tuple[int, Any]],
    skus: list[str],
    decide: BulkDecision,
    context: CommandContext,
    _attempt: int,
) -> ImportResult:
    known = await load_many(store, PRODUCT, skus)
    loaded = known if aggregate is PRODUCT else await load_many(store, aggregate, skus)
    states: dict[str, Any] = {sku: loaded[sku].state for sku in skus}
    events: dict[str, list[EventPayload]] = {sku: [] for sku in skus}
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    rejected: list[dict[str, Any]] = []
    for index, command in chunk:
        try:
            decided, label = decide(command, states[command.sku], known)
        except (Rejected, ProductDiscontinued) as exc:
            error = exc.error if isinstance(exc, Rejected) else {"code": exc.code, "message": exc.message}
            rejected.append({"index": index, "error": error})
            continue
        counts[label] += 1
        for event in decided:
            states[command.sku] = aggregate.evolve(states[command.sku], event)
        events[command.sku].extend(decided)
    changes = [Change(aggregate, sku, loaded[sku], evs) for sku, evs in events.items() if evs]
    position = 0
    if changes:
        position = (await commit(store, changes[0], changes[1:], context)).position
    return ImportResult(**counts, rejected=rejected, position=position)


def upsert_events(command: RegisterProduct, state: products.Product | None) -> list[EventPayload]:
    """Register a new product, or change what differs in an existing one (details, then price)."""
    if state is None:
        return products.decide(command, None)
    details = ChangeProductDetails(
        sku=command.sku,
        changes={
            "name": command.name,
            "description": command.description,
            "brand": command.brand,
            "category": command.category,
            "attributes": command.attributes,
        },
    )
    events = products.decide(details, state)
    after: products.Product | None = state
    for event in events:
        after = products.evolve(after, event)
    return events + products.decide(ChangeProductPrice(sku=command.sku, price=command.price), after)


def _upsert_product(
    command: RegisterProduct, state: products.Product | None, _known: dict[str, Loaded[products.Product]]
) -> tuple[list[EventPayload], str]:
    events = upsert_events(command, state)
    return events, "created" if state is None else "updated" if events else "unchanged"


def _receive(
    command: ReceiveStock, state: inventory.Inventory | None, known: dict[str, Loaded[products.Product]]
) -> tuple[list[EventPayload], str]:
    if known[command.sku].state is None:
        raise Rejected("not_found", f"product {command.sku} does not exist")
    return inventory.decide(command, state), "created"
