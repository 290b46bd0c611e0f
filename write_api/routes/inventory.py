"""Inventory commands: receipts, adjustments with reason codes, low-stock thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import Request, Response
from pydantic import ConfigDict, Field, ValidationError, field_validator

from shared.auth import Role
from shared.http_errors import ApiError
from write_api.command_runner import Rejections, run_bulk, run_command, validation_rejection
from write_api.commands import AdjustStock, ReceiveStock, SetLowStockThreshold
from write_api.routes.answers import InventoryOut, ReceiptsOut, render_inventory
from write_api.routes.command_route import CommandRoute, Inputs
from write_api.routes.fields import (
    ID_PATTERN,
    SKU_PATTERN,
    WHOLE,
    Quantity,
    RequestModel,
    WarehouseId,
    optional_text,
)
from write_api.service_layer import bulk_import


class ReceiptIn(RequestModel):
    warehouse: WarehouseId
    quantity: Quantity
    reference: str | None = optional_text(200)


class AdjustmentIn(RequestModel):
    warehouse: WarehouseId
    delta: Annotated[
        int,
        Field(
            ge=-1_000_000,
            le=1_000_000,
            strict=True,
            description="units added (> 0) or removed (< 0); never 0",
            json_schema_extra={"not": {"const": 0}},
        ),
        WHOLE,
    ]
    reason: Literal["count_correction", "damaged", "lost", "found", "returned", "other"]
    note: str | None = optional_text(1000)

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("must not be 0")
        return delta


class ThresholdIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    low_stock_threshold: Annotated[int, Field(ge=0, le=1_000_000, strict=True), WHOLE]


class BatchReceiptIn(ReceiptIn):
    sku: str = Field(pattern=SKU_PATTERN)


async def receive_stock_batch(request: Request, inputs: Inputs) -> Response:
    """Many receipts at once (an extension of the contract, for deliveries and stock takes): a JSON array of
    `{sku, warehouse, quantity, reference?}`. Answers `{applied, rejected: [{index, error}], position}`."""
    return await run_bulk(
        request,
        inputs.role,
        parse_receipts,
        bulk_import.receive_many,
        lambda result, rejected: {"applied": result.created, "rejected": rejected, "position": result.position},
    )


def parse_receipts(body: bytes, _content_type: str) -> tuple[list[tuple[int, ReceiveStock]], Rejections]:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_request", f"the body is not JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise ApiError(400, "malformed_request", "the body must be a JSON array of receipts")
    items: list[tuple[int, ReceiveStock]] = []
    rejected: Rejections = []
    for index, item in enumerate(raw):
        try:
            receipt = BatchReceiptIn.model_validate(item)
        except ValidationError as exc:
            rejected.append(validation_rejection(index, exc))
            continue
        items.append(
            (
                index,
                ReceiveStock(
                    sku=receipt.sku, warehouse=receipt.warehouse, quantity=receipt.quantity, reference=receipt.reference
                ),
            )
        )
    return items, rejected


async def receive_stock(request: Request, inputs: Inputs) -> Response:
    body: ReceiptIn = inputs.body
    command = ReceiveStock(
        sku=inputs.path["sku"], warehouse=body.warehouse, quantity=body.quantity, reference=body.reference
    )
    return await run_command(
        request, command, role=inputs.role, render=render_inventory, expected_version=inputs.if_match
    )


async def adjust_stock(request: Request, inputs: Inputs) -> Response:
    body: AdjustmentIn = inputs.body
    command = AdjustStock(
        sku=inputs.path["sku"], warehouse=body.warehouse, delta=body.delta, reason=body.reason, note=body.note
    )
    return await run_command(
        request, command, role=inputs.role, render=render_inventory, expected_version=inputs.if_match
    )


async def set_threshold(request: Request, inputs: Inputs) -> Response:
    body: ThresholdIn = inputs.body
    command = SetLowStockThreshold(
        sku=inputs.path["sku"], warehouse=inputs.path["warehouse"], threshold=body.low_stock_threshold
    )
    return await run_command(
        request, command, role=inputs.role, render=render_inventory, expected_version=inputs.if_match
    )


WAREHOUSE = frozenset({Role.WAREHOUSE})
BY_SKU = {"sku": SKU_PATTERN}
ANSWER = "The SKU's stock per warehouse, with its version and position"
ROUTES = [
    CommandRoute(
        "POST", "/inventory/receipts", receive_stock_batch, WAREHOUSE, "inventory", items=BatchReceiptIn,
        answer=ReceiptsOut, answer_description="How many receipts were applied, and each rejected one with its error",
    ),
    CommandRoute(
        "POST", "/inventory/{sku}/receipts", receive_stock, WAREHOUSE, "inventory", params=BY_SKU, body=ReceiptIn,
        if_match=True, answer=InventoryOut, answer_description=ANSWER,
    ),
    CommandRoute(
        "POST", "/inventory/{sku}/adjustments", adjust_stock, WAREHOUSE, "inventory", params=BY_SKU,
        body=AdjustmentIn, if_match=True, answer=InventoryOut, answer_description=ANSWER,
    ),
    CommandRoute(
        "PUT", "/inventory/{sku}/thresholds/{warehouse}", set_threshold, WAREHOUSE, "inventory",
        params={"sku": SKU_PATTERN, "warehouse": ID_PATTERN}, body=ThresholdIn, if_match=True, answer=InventoryOut,
        answer_description=ANSWER,
    ),
]  # fmt: skip
