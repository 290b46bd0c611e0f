"""Handler of the inventory commands: receive, adjust, set a low-stock threshold."""

from __future__ import annotations

from functools import partial

from write_api.commands import InventoryCommand
from write_api.domain import inventory, products
from write_api.domain.errors import NotFound
from write_api.event_store.records import EventStore
from write_api.service_layer.commit import Change, CommandContext, Outcome, check_if_match, commit, with_retries
from write_api.service_layer.loading import INVENTORY, PRODUCT, from_heads


async def handle_inventory_command(
    store: EventStore, command: InventoryCommand, context: CommandContext
) -> Outcome[inventory.Inventory]:
    async with context.locks.hold([inventory.stream_id(command.sku)]):
        return await with_retries(type(command).__name__, context, partial(_decide, store, command, context))


async def _decide(
    store: EventStore, command: InventoryCommand, context: CommandContext, _attempt: int
) -> Outcome[inventory.Inventory]:
    # The product (it must exist) and the inventory in one round trip.
    heads = await store.load_streams([products.stream_id(command.sku), inventory.stream_id(command.sku)])
    product = (await from_heads(store, PRODUCT, [command.sku], heads))[command.sku]
    if product.state is None:
        raise NotFound(f"product {command.sku} does not exist", sku=command.sku)
    loaded = (await from_heads(store, INVENTORY, [command.sku], heads))[command.sku]
    check_if_match(context, loaded)
    change = Change(INVENTORY, command.sku, loaded, inventory.decide(command, loaded.state))
    return await commit(store, change, [], context)
