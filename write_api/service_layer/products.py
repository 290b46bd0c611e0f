"""Handler of the product commands: register, change details, change price, discontinue."""

from __future__ import annotations

from functools import partial

from write_api.commands import ProductCommand
from write_api.domain import products
from write_api.event_store.records import EventStore
from write_api.service_layer.commit import Change, CommandContext, Outcome, check_if_match, commit, with_retries
from write_api.service_layer.loading import PRODUCT, load


async def handle_product_command(
    store: EventStore, command: ProductCommand, context: CommandContext
) -> Outcome[products.Product]:
    async with context.locks.hold([products.stream_id(command.sku)]):
        return await with_retries(type(command).__name__, context, partial(_decide, store, command, context))


async def _decide(
    store: EventStore, command: ProductCommand, context: CommandContext, _attempt: int
) -> Outcome[products.Product]:
    loaded = await load(store, PRODUCT, command.sku)
    check_if_match(context, loaded)
    change = Change(PRODUCT, command.sku, loaded, products.decide(command, loaded.state))
    return await commit(store, change, [], context)
