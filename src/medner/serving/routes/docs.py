"""``GET /docs``: Swagger UI for the OpenAPI document, served from this process.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, unpinned and without integrity checks; here
the page's script, style sheet and icon come from the pinned ``swagger-ui-py`` package
(Swagger UI 5, Apache-2.0, its licence in that package's ``static/LICENSE``), and Swagger UI's
online validator badge, which would call validator.swagger.io, is off. Nothing on the page
reaches outside the server.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from medner.serving.deps import error

router = APIRouter(include_in_schema=False)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def assets_dir() -> Path:
    """Swagger UI's files in the installed ``swagger-ui-py`` package (found, not imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: pip install 'medner[serve]'")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/docs/assets/{name}", response_model=None)
async def asset(name: str) -> FileResponse | object:
    if name not in ASSETS:
        return error(404, f"no asset {name!r}")
    return FileResponse(assets_dir() / name, media_type=ASSETS[name])
