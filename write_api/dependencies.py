"""FastAPI dependencies of the write API, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header

from shared.auth import Role
from shared.ids import uuid7
from shared.web import ApiError, require_role

require = require_role


CatalogRole = Annotated[Role, require(Role.CATALOG)]
WarehouseRole = Annotated[Role, require(Role.WAREHOUSE)]
StorefrontRole = Annotated[Role, require(Role.STOREFRONT)]
BackofficeRole = Annotated[Role, require(Role.BACKOFFICE)]


async def parse_if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().strip('"').removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ApiError(400, "malformed_request", "If-Match must be a stream version (a non-negative integer)")
    return int(value)


IfMatch = Annotated[int | None, Depends(parse_if_match)]


def command_metadata(role: Role, correlation_id: str | None = None, causation_id: str | None = None) -> dict[str, Any]:
    command_id = str(uuid7())
    return {
        "command_id": command_id,
        "correlation_id": correlation_id or command_id,
        "causation_id": causation_id or command_id,
        "actor": role.value,
    }
