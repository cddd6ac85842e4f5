"""RFC 9457 problem details for every error a service returns, and the guards on request bodies."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zorgstroom_runtime.errors import ApplicationError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://zorgstroom.nl/problems/"
# The body of every error answer, as the OpenAPI documents declare it (apidocs.document_answers).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; an error may carry more members (e.g. `offer_status`, `wijk`).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": f"{PROBLEM_BASE}<kind>, e.g. {PROBLEM_BASE}invalid-request"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong; never an input value (it may hold a BSN)."},
        "instance": {"type": "string", "description": "The request's path."},
        "errors": {
            "type": "array",
            "description": "Of an invalid request (422): each field refused, and why.",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}},
            },
        },
    },
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers
        self.kind = kind or title.lower().replace(" ", "-")
        self.extensions = extensions


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {"type": PROBLEM_BASE + kind, "title": title, "status": status, "detail": detail, **extensions}
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            kind=exc.kind,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(ApplicationError)
    async def _application(request: Request, exc: ApplicationError) -> JSONResponse:
        return problem_response(
            exc.status, exc.title, exc.detail, kind=exc.kind, instance=request.url.path, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo input values: a request body may hold a BSN.
        errors = [{"field": _field_of(e), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        fields = ", ".join(sorted({e["field"] or "body" for e in errors}))
        return problem_response(
            422,
            "Invalid request",
            f"the request is not valid: {fields}",
            kind="invalid-request",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            _TITLES.get(exc.status_code, "Error"),
            str(exc.detail),
            kind=f"http-{exc.status_code}",
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the log (with the trace id); the caller learns nothing internal.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "Internal error",
            "the service could not complete the request",
            kind="internal-error",
            instance=request.url.path,
        )


def _field_of(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":  # its loc is a byte position, not a field
        return "body"
    return ".".join(str(p) for p in error["loc"] if p != "body")


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


class BodyGuard:
    """Refuses bodies over a size limit (413) and writes that are not JSON (415), before routing.

    A pure ASGI middleware: a declared Content-Length over the limit is refused before the body is read; a body
    without one (chunked) is counted as it streams, and refused with 413 as soon as it passes the limit, without
    reading the rest. The route's own answer to the body cut short (FastAPI would say 400) is dropped for it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, send, 413, "Content too large", f"the body exceeds {self.max_bytes} bytes")
            return
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = length not in (None, "0") or "transfer-encoding" in headers
        if has_body and not (media == "application/json" or media.endswith("+json")):
            await self._refuse(scope, send, 415, "Unsupported media type", "send the body as application/json")
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The route, with its body counted as it streams: past the limit, 413 in place of its answer."""
        too_large = f"the body exceeds {self.max_bytes} bytes"
        received, overflowed, refused = 0, False, False

        async def counting_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                overflowed = True
                raise Problem(413, "Content too large", too_large)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal refused
            if not overflowed:
                await send(message)
            elif message["type"] == "http.response.start":  # whatever the route made of the cut body
                refused = True
                await self._refuse(scope, send, 413, "Content too large", too_large)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Problem:
            if not overflowed or refused:
                raise
            await self._refuse(scope, send, 413, "Content too large", too_large)  # nothing inside answered it

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, title: str, detail: str) -> None:
        kind = title.lower().replace(" ", "-")
        response = problem_response(status, title, detail, kind=kind, instance=scope.get("path"))
        await response(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}
