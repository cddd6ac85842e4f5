"""The audit trail at the HTTP edge: refused requests audited with their caller, the server's own
trace for every request, and `GET /v1/audit`, where region staff read who did what to which client_ref.
"""

import logging
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from zorgstroom_runtime.auth import CurrentPrincipal, Principal, RefusedCaller, Role
from zorgstroom_runtime.errors import InvalidField
from zorgstroom_runtime.isotime import IsoDateTime
from zorgstroom_runtime.outbox import UnitOfWork
from zorgstroom_runtime.telemetry import current_trace_id

log = logging.getLogger(__name__)
REFUSED = (401, 403)
ANONYMOUS = "anonymous"
INBOUND_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
CALLER_TRACE_ID = "zorgstroom.caller_trace_id"  # a span attribute, and the scope key that carries it there
CLIENT_REF = re.compile(r"[0-9a-f]{64}")  # as the routes that name one accept it
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
Outcome = Literal["ok", "refused: 401", "refused: 403", "replayed"]


class EveryRequestANewTrace:
    """Drops a caller's trace context before the tracing middleware reads it.

    The trace id of a request becomes the `correlation_id` of its audit rows and events (and
    `zorgstroom trace` finds a request by it), so a caller must not choose it: every HTTP request
    starts a new root trace. A well-formed caller trace id is kept as the span attribute
    `zorgstroom.caller_trace_id`, so the two traces can still be joined by hand.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers") or []
            scope = dict(scope, headers=[(k, v) for k, v in headers if k.lower() not in INBOUND_TRACE_HEADERS])
            caller = next((v for k, v in headers if k.lower() == b"traceparent"), b"").decode("latin-1")
            if match := _TRACEPARENT.fullmatch(caller.strip()):
                scope[CALLER_TRACE_ID] = match.group(1)
        await self.app(scope, receive, send)


def start_every_request_a_new_trace(app: Any) -> None:
    """Put `EveryRequestANewTrace` outside the whole (instrumented) middleware stack of a Starlette app."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack
    app.build_middleware_stack = lambda: EveryRequestANewTrace(build())


def note_caller_trace(span: Any, scope: dict[str, Any]) -> None:
    """The tracing middleware's request hook: the caller's own trace id, as an attribute only."""
    if span is not None and span.is_recording() and CALLER_TRACE_ID in scope:
        span.set_attribute(CALLER_TRACE_ID, scope[CALLER_TRACE_ID])


async def audit_refusal(pool: asyncpg.Pool, request: Request, route: str, status: int) -> None:
    """The audit row of a 401 or 403, in a transaction of its own (the request's own was rolled back).

    The action is the route template, never the raw path; the client_ref is the one the request named.
    A failure to write it is logged, and the refusal still answered. A 403 names the person too; so does a
    401 of an access token whose signature verified (who it claimed to be, and why it was refused, as subject).
    """
    principal: Principal | None = getattr(request.state, "principal", None)
    refused: RefusedCaller | None = getattr(request.state, "refused_caller", None)
    named = request.path_params.get("client_ref") or request.query_params.get("client_ref") or ""
    client_ref = named if CLIENT_REF.fullmatch(named) else None
    if principal is not None:
        actor, on_behalf_of, person, subject = principal.name, principal.organisation, principal.subject, None
    elif refused is not None:
        actor, on_behalf_of, person = refused.name, refused.organisation, refused.subject
        subject = getattr(request.state, "refusal_reason", None)
    else:
        actor, on_behalf_of, person, subject = ANONYMOUS, "", None, None
    try:
        await pool.execute(
            "INSERT INTO audit_log (actor, on_behalf_of, person, action, client_ref, subject, outcome,"
            " correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            actor,
            on_behalf_of,
            person,
            f"{request.method} {route}",
            client_ref,
            subject,
            f"refused: {status}",
            current_trace_id(),
        )
    except (OSError, asyncpg.PostgresError):
        log.exception("the refusal of %s %s could not be audited", request.method, route)


def caller_of(request: Request) -> dict[str, str]:
    """Who called, for the access log: the credential's name and organisation, or anonymous."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return {"actor": ANONYMOUS, "organisation": ""}
    return {"actor": principal.name, "organisation": principal.organisation}


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="The credential that acted (or a refused token's client), or 'anonymous'.")
    on_behalf_of: str = Field(description="Its organisation, 'kind:id' as claimed ('' for anonymous).")
    person: str | None = Field(
        description="The person the credential acted for: the access token's person claim (preferred_username"
        " by default); null for a static token and an organisation's own client-credentials token."
    )
    action: str
    client_ref: str | None
    subject: str | None
    outcome: str = Field(
        description="'ok', 'refused: 401', 'refused: 403', or 'replayed' (a retry answered from its Idempotency-Key)."
    )
    correlation_id: str | None = Field(description="The trace id of the request (the server's own).")


class AuditPage(BaseModel):
    entries: list[AuditEntry] = Field(description="Newest first.")
    next_after: int | None = Field(description="Pass as `after` for the next (older) page; null on the last.")


@dataclass(frozen=True)
class AuditQuery:
    client_ref: str | None = None
    actor: str | None = None
    person: str | None = None
    organisation: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    after: int | None = None

    def filters(self) -> list[tuple[str, Any]]:
        """(SQL condition with a placeholder, value) of each filter given."""
        columns = [
            ("client_ref = {}", self.client_ref),
            ("actor = {}", self.actor),
            ("person = {}", self.person),
            ("on_behalf_of = {}", self.organisation),
            ("action = {}", self.action),
            ("outcome = {}", self.outcome),
            ("at >= {}", self.since),
            ("at < {}", self.until),
            ("id < {}", self.after),
        ]
        return [(sql, value) for sql, value in columns if value is not None]

    def described(self) -> str:
        """The filters other than client_ref (that is the row's subject column), for the query's own audit row."""
        named: dict[str, object] = {"actor": self.actor, "person": self.person, "organisation": self.organisation}
        named["action"] = self.action
        named |= {"outcome": self.outcome, "from": self.since, "to": self.until, "after": self.after}
        named["limit"] = self.limit
        return urlencode(
            {k: v.isoformat() if isinstance(v, datetime) else str(v) for k, v in named.items() if v is not None}
        )


async def read_audit_trail(conn: asyncpg.Connection, query: AuditQuery) -> AuditPage:
    """One page of the audit log, newest first, keyset-paged on id."""
    filters = query.filters()
    where = " AND ".join(sql.format(f"${i}") for i, (sql, _) in enumerate(filters, start=1)) or "true"
    rows = await conn.fetch(
        "SELECT id, at, actor, on_behalf_of, person, action, client_ref, subject, outcome, correlation_id"
        " FROM audit_log"
        f" WHERE {where} ORDER BY id DESC LIMIT {query.limit + 1}",
        *(value for _, value in filters),
    )
    entries = [AuditEntry(**dict(row)) for row in rows[: query.limit]]
    return AuditPage(entries=entries, next_after=entries[-1].id if len(rows) > query.limit else None)


def _audit_query(
    client_ref: Annotated[str | None, Query(pattern=f"^{CLIENT_REF.pattern}$", description="64 hex digits.")] = None,
    actor: str | None = None,
    person: Annotated[str | None, Query(description="Only what this person did (preferred_username).")] = None,
    organisation: Annotated[str | None, Query(description="'kind:id', e.g. municipality:0034.")] = None,
    action: Annotated[str | None, Query(description="e.g. intake.register, or 'GET /v1/intakes/{intake_id}'.")] = None,
    outcome: Outcome | None = None,
    since: Annotated[IsoDateTime | None, Query(alias="from", description="At or after (ISO 8601).")] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to", description="Before (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="The `next_after` of the previous page.")
    ] = None,
) -> AuditQuery:
    if since is not None and until is not None and since >= until:
        raise InvalidField("from", "must lie before 'to'")
    for name, moment in (("from", since), ("to", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidField(name, "needs a time zone (e.g. 2026-11-30T00:00:00Z)")
    return AuditQuery(
        client_ref and client_ref.lower(), actor, person, organisation, action, outcome, since, until, limit, after
    )


def _units_of_work(request: Request) -> Callable[..., AbstractAsyncContextManager[UnitOfWork]]:
    units: Callable[..., AbstractAsyncContextManager[UnitOfWork]] = request.app.state.context.unit_of_work
    return units


def audit_router() -> APIRouter:
    """`GET /v1/audit`, mounted on every service: its own audit log."""
    router = APIRouter(tags=["audit"])

    @router.get("/v1/audit", summary="The audit trail of this service (region staff)")
    async def audit_trail(
        request: Request,
        principal: CurrentPrincipal,
        query: Annotated[AuditQuery, Depends(_audit_query)],
        units: Annotated[Callable[..., AbstractAsyncContextManager[UnitOfWork]], Depends(_units_of_work)],
    ) -> AuditPage:
        principal.require_region_staff_of(request.app.state.context.region.code, Role.AUDIT_READ)
        async with units(correlation_id=current_trace_id()) as uow:  # the read and its own audit row, together
            page = await read_audit_trail(uow.conn, query)
            await uow.audit_as(principal, "audit.read", client_ref=query.client_ref, subject=query.described())
        return page

    return router
