"""The service layer: load the streams a command needs, decide (the pure domain), append every changed stream in
one transaction at its expected version, and decide again if another writer got there first (bounded).

Its door: routes call `dispatch`, and COMMAND_HANDLERS maps each command class to its handler explicitly. Behind
it, one module per aggregate (products, inventory, orders); loading (snapshot + newer events); stream_locks and
stream_cache (what the commands of one process share); commit (append, retry); bulk_import (many commands per
request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from write_api.commands import (
    AddOrderLine,
    AdjustStock,
    CancelOrder,
    ChangeProductDetails,
    ChangeProductPrice,
    DiscontinueProduct,
    PlaceOrder,
    ReceiveStock,
    RegisterProduct,
    SetLowStockThreshold,
    ShipOrder,
)
from write_api.event_store.records import EventStore
from write_api.service_layer.commit import CommandContext, Outcome
from write_api.service_layer.inventory import handle_inventory_command
from write_api.service_layer.orders import (
    handle_add_order_line,
    handle_cancel_order,
    handle_place_order,
    handle_ship_order,
)
from write_api.service_layer.products import handle_product_command

Handler = Callable[[EventStore, Any, CommandContext], Awaitable[Outcome[Any]]]

COMMAND_HANDLERS: dict[type, Handler] = {
    RegisterProduct: handle_product_command,
    ChangeProductDetails: handle_product_command,
    ChangeProductPrice: handle_product_command,
    DiscontinueProduct: handle_product_command,
    ReceiveStock: handle_inventory_command,
    AdjustStock: handle_inventory_command,
    SetLowStockThreshold: handle_inventory_command,
    PlaceOrder: handle_place_order,
    AddOrderLine: handle_add_order_line,
    CancelOrder: handle_cancel_order,
    ShipOrder: handle_ship_order,
}


async def dispatch(store: EventStore, command: object, context: CommandContext) -> Outcome[Any]:
    return await COMMAND_HANDLERS[type(command)](store, command, context)
