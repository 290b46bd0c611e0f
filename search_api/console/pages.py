"""The console's pages and static files, and the one JSON route it adds: the role of the key signed in with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from search_api.dependencies import Settings
from shared.auth import Role
from shared.bearer_auth import RoleKey
from shared.http_errors import error_responses
from shared.responses import JSONResponse

HERE = Path(__file__).parent
STATIC_PATH = "/console/static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

# Page -> (title, roles that may see it; None: public). The browser checks the role to say when a page is closed
# to the key signed in with; the JSON routes the page reads check it again, and they are what protects the data.
PAGES: dict[str, tuple[str, tuple[Role, ...] | None]] = {
    "shop": ("Shop", None),
    "product": ("Product", None),
    "warehouse": ("Warehouse", (Role.WAREHOUSE, Role.BACKOFFICE)),
    "orders": ("Orders", (Role.BACKOFFICE,)),
    "status": ("Status", (Role.CATALOG, Role.WAREHOUSE, Role.BACKOFFICE)),
}


def _page(request: Request, settings: Settings, page: str, **context: object) -> HTMLResponse:
    title, roles = PAGES[page]
    allowed = "" if roles is None else " ".join(sorted({r.value for r in (*roles, Role.ADMIN)}))
    return templates.TemplateResponse(
        request,
        f"{page}.html",
        {
            "page": page,
            "title": title,
            "allowed_roles": allowed,
            "write_api": settings.write_api_public_url.rstrip("/"),
            "static": STATIC_PATH,
            **context,
        },
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/", response_class=HTMLResponse)
async def shop(request: Request, settings: Settings) -> HTMLResponse:
    return _page(request, settings, "shop")


@router.get("/shop/{sku}", response_class=HTMLResponse)
async def product(request: Request, settings: Settings, sku: Annotated[str, PathParam(max_length=200)]) -> HTMLResponse:
    # Any SKU renders the page: the product read it makes answers an unknown or malformed one with a 404 or 422,
    # which the page shows.
    return _page(request, settings, "product", sku=sku)


@router.get("/console/warehouse", response_class=HTMLResponse)
async def warehouse(request: Request, settings: Settings) -> HTMLResponse:
    return _page(request, settings, "warehouse")


@router.get("/console/orders", response_class=HTMLResponse)
async def orders(request: Request, settings: Settings) -> HTMLResponse:
    return _page(request, settings, "orders")


@router.get("/console/status", response_class=HTMLResponse)
async def status(request: Request, settings: Settings) -> HTMLResponse:
    return _page(request, settings, "status")


@router.get("/console/role", include_in_schema=True, tags=["console"], responses=error_responses(401))
async def role_of_key(request: Request) -> JSONResponse:
    """The role of the bearer key (401 if it is not a valid key): how the console signs in."""
    role = RoleKey(frozenset(Role)).role(request)
    return JSONResponse({"role": role.value}, headers={"Cache-Control": "no-store"})


def mount_console(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console-static")
