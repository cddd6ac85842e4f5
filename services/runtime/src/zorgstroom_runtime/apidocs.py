"""API documents that work offline: Swagger UI served from this package, and the AsyncAPI document.

FastAPI's own /docs page loads Swagger UI from a CDN and its favicon from fastapi.tiangolo.com, so it
is blank behind a municipality's proxy or on a laptop without internet. `install_api_docs` replaces it
with the copy of npm swagger-ui-dist vendored into static/swagger-ui/ (by deploy/vendor-web.sh; the
version is in its VERSION file), and serves the contract-wide AsyncAPI document beside /openapi.json:

    /docs                     Swagger UI over /openapi.json; nothing is loaded from another host
    /docs/assets/{file}       the vendored files (only the ones named in ASSETS)
    /asyncapi.json            the AsyncAPI 3.0 document of every topic (zorgstroom_contracts.asyncapi)

Swagger UI's validator badge is switched off: it would send the OpenAPI document to validator.swagger.io.

`document_answers` makes /openapi.json tell the truth about what every route can answer, in one place:
each error as `application/problem+json` (401, 403 and 429 where a token is needed, 400, 413 and 415 on
writes, 422, 500, and whatever a route declares, such as its 404 or 409), optional query and header
parameters without FastAPI's `null` alternative (a missing parameter is how null is sent), and on each
write that takes an Idempotency-Key its 409 `idempotency-key-reused` and the `Idempotent-Replayed`
header. Routes declare only what is their own: `responses={404: {"description": "No such offer"}}`.
tests/integration/test_api_conformance.py holds every service to its document with schemathesis.
"""

import base64
import functools
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from zorgstroom_contracts.asyncapi import asyncapi_document
from zorgstroom_runtime.idempotency import HEADER as IDEMPOTENCY_KEY
from zorgstroom_runtime.idempotency import REPLAYED
from zorgstroom_runtime.problems import PROBLEM_JSON, PROBLEM_SCHEMA

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
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=title,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js?v={version}",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css?v={version}",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png?v={version}",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        page.headers["Content-Security-Policy"] = docs_content_security_policy(bytes(page.body).decode())
        return page

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


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_content_security_policy(html: str) -> str:
    """A strict CSP for the Swagger UI page: its one inline script (FastAPI's start-up of Swagger UI) allowed by
    its hash, nothing else inline, nothing from another host. The page shares its origin with the reporting
    dashboard, whose person's tokens live in sessionStorage: no script but these may run there."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
        " connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


# What a route declares of its own in `responses=` (FastAPI's type for it).
Responses = dict[int | str, dict[str, Any]]
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
WRITES = ("post", "put", "patch")
# What each error status means wherever it is answered; a route's own description replaces it.
ERRORS = {
    "400": "The body is not JSON",
    "401": "No valid bearer token",
    "403": "The credential lacks the role or organisation this needs",
    "404": "Not found",
    "409": "The current state refuses the request",
    "413": "The body is too large",
    "415": "The body is not application/json",
    "422": "The request is not valid: `errors` names each field refused (problem type invalid-request)",
    "429": "Over the caller's rate limit (problem type too-many-requests): try again after `Retry-After` seconds",
    "500": "The service could not complete the request",
}
KEY_REUSED = (
    f"The {IDEMPOTENCY_KEY} was used before with another request or credential (problem type"
    " idempotency-key-reused), or its first request did not complete"
)
REPLAYED_HEADER = {
    "description": f"`true` when this is the stored answer to an earlier request with the same {IDEMPOTENCY_KEY}",
    "schema": {"type": "string", "enum": ["true"]},
}


def install_answers(app: FastAPI) -> None:
    """Serve the OpenAPI document as `document_answers` completes it (built once, on first request)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_answers(build())  # FastAPI keeps the document it built in app.openapi_schema
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def document_answers(document: dict[str, Any]) -> dict[str, Any]:
    """Complete, in place, what FastAPI documents of each operation with what the runtime answers too."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            _document_parameters(operation)
            _document_errors(method, operation)
            if any(p.get("name") == IDEMPOTENCY_KEY for p in operation.get("parameters", ())):
                _document_replays(operation)
            operation["responses"] = dict(sorted(operation["responses"].items()))
    for fastapi_only in ("HTTPValidationError", "ValidationError"):  # 422 is a problem here
        schemas.pop(fastapi_only, None)
    return document


def _document_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", ()):
        schema = parameter.get("schema", {})
        alternatives = schema.get("anyOf", [])
        values = [a for a in alternatives if a != {"type": "null"}]
        if len(alternatives) == 2 and len(values) == 1:  # `X | None`: absent is the only null a URL can send
            parameter["schema"] = {k: v for k, v in schema.items() if k != "anyOf"} | values[0]


def _document_errors(method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = {"500"}
    if operation.get("security"):
        statuses |= {"401", "403", "429"}
    if method in WRITES:
        statuses |= {"413", "415"}
    if "requestBody" in operation:
        statuses |= {"400"}
    if operation.get("parameters") or "requestBody" in operation:
        statuses |= {"422"}
    for status in statuses:
        responses.setdefault(status, {})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            if response.get("description") in (None, "", "Validation Error"):  # FastAPI's own 422 says that
                response["description"] = ERRORS.get(status, "Refused")
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}


def _document_replays(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    conflict = responses.get("409")
    if conflict is None or conflict.get("description") == ERRORS["409"]:
        responses["409"] = {"description": KEY_REUSED, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}
    elif KEY_REUSED not in conflict["description"]:
        conflict["description"] = f"{conflict['description']}; or: {KEY_REUSED}"
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {})[REPLAYED] = REPLAYED_HEADER
