"""API documents that work offline: Swagger UI served from this package, and the AsyncAPI document.

FastAPI's own /docs page loads Swagger UI from a CDN and its favicon from fastapi.tiangolo.com, so it
is blank behind a municipality's proxy or on a laptop without internet. `install_api_docs` replaces it
with the copy of npm swagger-ui-dist vendored into static/swagger-ui/ (by deploy/vendor-web.sh; the
version is in its VERSION file), and serves the contract-wide AsyncAPI document beside /openapi.json:

    /docs                     Swagger UI over /openapi.json; nothing is loaded from another host
    /docs/assets/{file}       the vendored files (only the ones named in ASSETS)
    /asyncapi.json            the AsyncAPI 3.0 document of every topic (zorgstroom_contracts.asyncapi)

Swagger UI's validator badge is switched off: it would send the OpenAPI document to validator.swagger.io.
"""

import functools
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from zorgstroom_contracts.asyncapi import asyncapi_document

log = logging.getLogger(__name__)

SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui"
DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
ASYNCAPI_PATH = "/asyncapi.json"
# The files the page loads, with their media types; nothing else in the directory is served.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}  # merged into FastAPI's defaults
# Asset URLs carry the vendored version, so a browser does not keep an old copy after an upgrade.
_CACHE = "public, max-age=86400"


def vendored_version() -> str:
    """The swagger-ui-dist version the package carries ("missing" when deploy/vendor-web.sh was not run)."""
    try:
        return (SWAGGER_UI / "VERSION").read_text().split()[2]
    except (OSError, IndexError):
        return "missing"


@functools.cache
def _asyncapi() -> dict[str, Any]:
    return asyncapi_document()


def install_api_docs(app: FastAPI, title: str | None = None) -> None:
    """Serve /docs from the vendored Swagger UI and /asyncapi.json, in place of FastAPI's CDN pages.

    Create the app with `docs_url=None, redoc_url=None`; should it still have FastAPI's own pages, they
    are removed here, so /docs is never the CDN page.
    """
    if app.openapi_url is None:
        raise ValueError("install_api_docs needs the app's OpenAPI document (openapi_url is None)")
    _remove_cdn_docs(app)
    missing = [name for name in ASSETS if not (SWAGGER_UI / name).is_file()]
    if missing:
        log.error("Swagger UI files missing from %s: %s; run deploy/vendor-web.sh", SWAGGER_UI, ", ".join(missing))
    app.include_router(_router(app.openapi_url, f"{title or app.title} - API", vendored_version()))


def _remove_cdn_docs(app: FastAPI) -> None:
    cdn_pages = {app.redoc_url} - {None}
    if app.docs_url:  # FastAPI adds the OAuth2 redirect page only beside its own docs page
        cdn_pages |= {app.docs_url, app.swagger_ui_oauth2_redirect_url}
    if cdn_pages:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in cdn_pages]
    app.docs_url = app.redoc_url = None


def _router(openapi_url: str, title: str, version: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_PATH, response_class=HTMLResponse)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # same origin, also behind a path prefix
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=title,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js?v={version}",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css?v={version}",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png?v={version}",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @router.get(ASSETS_PATH + "/{name}")
    async def asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        path = SWAGGER_UI / name
        if media_type is None or not path.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": _CACHE})

    @router.get(ASYNCAPI_PATH)
    async def asyncapi() -> JSONResponse:
        return JSONResponse(_asyncapi())

    return router
