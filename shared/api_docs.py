"""`/docs` of both APIs, served whole by the API itself: Swagger UI's script, stylesheet and icon come from the
pinned npm package `swagger-ui-dist` (package.json, installed into node_modules/ by infra/web_assets.sh), not from
a CDN, so the page works on a machine or network without internet access. ReDoc (`/redoc`) is not offered: it would
need a CDN too.

`SWAGGER_UI_DIR` names another folder holding the package's files (the Docker image copies them elsewhere). Without
the files, `/docs` answers 503 saying how to install them, and the API itself works as ever."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles

from shared.http_errors import error_response

ROOT = Path(__file__).resolve().parent.parent
ASSETS_PATH = "/docs/assets"
NEEDED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def swagger_ui_dir() -> Path:
    return Path(os.environ.get("SWAGGER_UI_DIR") or ROOT / "node_modules" / "swagger-ui-dist")


def install_docs(app: FastAPI, title: str) -> None:
    """`/docs` (make the app with `docs_url=None, redoc_url=None`) and its assets under `/docs/assets/`."""
    assets = swagger_ui_dir()
    present = all((assets / name).is_file() for name in NEEDED)
    if present:
        app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        if not present:
            return error_response(
                503,
                "unavailable",
                f"Swagger UI's files are not installed at {assets}: run `bash infra/web_assets.sh` (or set "
                "SWAGGER_UI_DIR); the OpenAPI document itself is at /openapi.json",
            )
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
        )
