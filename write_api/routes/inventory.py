"""Inventory commands: receipts, adjustments with reason codes, low-stock thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Request
from pydantic import ConfigDict, Field, ValidationError, field_validator

from shared.http_errors import ApiError
from shared.responses import JSONResponse
from write_api.command_runner import Rejections, run_bulk, run_command, validation_rejection
from write_api.commands import AdjustStock, ReceiveStock, SetLowStockThreshold
from write_api.dependencies import IfMatch, WarehouseRole
from write_api.routes.answers import InventoryOut, render_inventory
from write_api.routes.fields import ID_PATTERN, SKU_PATTERN, Quantity, RequestModel, Sku, WarehouseId
from write_api.service_layer import bulk_import

ANSWER = {"model": InventoryOut, "description": "The SKU's stock per warehouse, with its version and position"}
router = APIRouter(prefix="/inventory", tags=["inventory"])


class ReceiptIn(RequestModel):
    warehouse: WarehouseId
    quantity: Quantity
    reference: str | None = Field(default=None, max_length=200)


class AdjustmentIn(RequestModel):
    warehouse: WarehouseId
    delta: int = Field(ge=-1_000_000, le=1_000_000, strict=True)
    reason: Literal["count_correction", "damaged", "lost", "found", "returned", "other"]
    note: str | None = Field(default=None, max_length=1000)

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("must not be 0")
        return delta


class ThresholdIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    low_stock_threshold: int = Field(ge=0, le=1_000_000, strict=True)


class BatchReceiptIn(ReceiptIn):
    sku: str = Field(pattern=SKU_PATTERN)


@router.post("/receipts")
async def receive_stock_batch(request: Request, role: WarehouseRole) -> JSONResponse:
    """Many receipts at once (an extension of the contract, for deliveries and stock takes): a JSON array of
    `{sku, warehouse, quantity, reference?}`. Answers `{applied, rejected: [{index, error}], position}`."""
    return await run_bulk(
        request,
        role,
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


@router.post("/{sku}/receipts", responses={200: ANSWER})
async def receive_stock(
    sku: Sku, body: ReceiptIn, request: Request, role: WarehouseRole, if_match: IfMatch
) -> JSONResponse:
    command = ReceiveStock(sku=sku, warehouse=body.warehouse, quantity=body.quantity, reference=body.reference)
    return await run_command(request, command, role=role, render=render_inventory, expected_version=if_match)


@router.post("/{sku}/adjustments", responses={200: ANSWER})
async def adjust_stock(
    sku: Sku, body: AdjustmentIn, request: Request, role: WarehouseRole, if_match: IfMatch
) -> JSONResponse:
    command = AdjustStock(sku=sku, warehouse=body.warehouse, delta=body.delta, reason=body.reason, note=body.note)
    return await run_command(request, command, role=role, render=render_inventory, expected_version=if_match)


@router.put("/{sku}/thresholds/{warehouse}", responses={200: ANSWER})
async def set_threshold(
    sku: Sku,
    warehouse: Annotated[str, Path(pattern=ID_PATTERN)],
    body: ThresholdIn,
    request: Request,
    role: WarehouseRole,
    if_match: IfMatch,
) -> JSONResponse:
    command = SetLowStockThreshold(sku=sku, warehouse=warehouse, threshold=body.low_stock_threshold)
    return await run_command(request, command, role=role, render=render_inventory, expected_version=if_match)
