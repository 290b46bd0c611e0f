"""FastAPI dependencies of the write API, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from shared.auth import Role
from shared.bearer_auth import require_role
from shared.http_errors import ApiError

CatalogRole = Annotated[Role, require_role(Role.CATALOG)]
WarehouseRole = Annotated[Role, require_role(Role.WAREHOUSE)]
StorefrontRole = Annotated[Role, require_role(Role.STOREFRONT)]
BackofficeRole = Annotated[Role, require_role(Role.BACKOFFICE)]


async def parse_if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().strip('"').removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ApiError(400, "malformed_request", "If-Match must be a stream version (a non-negative integer)")
    return int(value)


IfMatch = Annotated[int | None, Depends(parse_if_match)]
