"""FastAPI dependencies of the search API, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from elasticsearch import AsyncElasticsearch
from fastapi import Depends, Query, Request

from search_api.settings import SearchApiSettings
from shared.auth import Role
from shared.bearer_auth import require_role


async def get_es(request: Request) -> AsyncElasticsearch:
    es: AsyncElasticsearch = request.app.state.es
    return es


async def get_settings(request: Request) -> SearchApiSettings:
    settings: SearchApiSettings = request.app.state.settings
    return settings


Es = Annotated[AsyncElasticsearch, Depends(get_es)]
Settings = Annotated[SearchApiSettings, Depends(get_settings)]


require = require_role


StockReader = Annotated[Role, require(Role.WAREHOUSE, Role.BACKOFFICE)]
OrderReader = Annotated[Role, require(Role.BACKOFFICE)]
# Staff: every role but the storefront's (a shop's server key, not a person at work on the platform).
StaffReader = Annotated[Role, require(Role.CATALOG, Role.WAREHOUSE, Role.BACKOFFICE)]

MinPosition = Annotated[int | None, Query(ge=0, lt=2**53, description="a `position` returned by the write API")]
WaitMs = Annotated[int | None, Query(ge=0, le=10_000, description="how long to wait for min_position (ms)")]
