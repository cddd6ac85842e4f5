"""Idempotency-Key on HTTP writes: a write's first answer is kept with its effect and replayed to each retry.

A service declares it once per router (`APIRouter(route_class=ReplayableRoute)`) and opens the units of
work of its routes with `request_unit_of_work`. A POST, PUT or PATCH that carries an `Idempotency-Key`
then runs in one transaction that also holds the key: the caller's organisation, the key, a hash of the
request and the credential (its token, not its name), the credential's roles and, at the end, the answer
(status, headers, body) and the audit lines the write left. So the effect, its events, its audit lines
and the answer commit together or not at all, and:

- a retry with the same key, request and credential gets the stored answer with `Idempotent-Replayed:
  true`, changes nothing (no event) and leaves an audit line per line of the first answer, outcome
  'replayed' (the answer may name a client: reading it again is audited like any read);
- a retry by the same credential after one of the roles it held then was taken away gets 403: the
  stored answer goes only to a caller the route would still let in;
- a retry while the first is in flight waits for it (on the key's row) and then gets that answer;
- the same key with another request, or from another credential (even one of the same name), gets 409
  `idempotency-key-reused`, and never the answer;
- a refusal (4xx) or a failure is not kept: the key is free again for a corrected request.

The units of work of a keyed write are savepoints on its transaction; their outbox rows are written all
together when the request commits, under one sorted set of per-key locks (outbox.py): taken unit by
unit, two requests touching keys K1 then K2 and K2 then K1 could each hold the lock the other waits for.

A key is kept for `KEY_LIFETIME`; after that it is free again and the relay's purge deletes it.
"""

import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import asyncpg
from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param

from zorgstroom_runtime.auth import CurrentPrincipal, Principal, token_digest
from zorgstroom_runtime.errors import Conflict, Forbidden
from zorgstroom_runtime.outbox import Outbox, UnitOfWork
from zorgstroom_runtime.region import Region
from zorgstroom_runtime.telemetry import current_trace_id

if TYPE_CHECKING:  # the app imports the relay, which purges keys from here
    from zorgstroom_runtime.app import ServiceContext

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_LIFETIME = timedelta(hours=24)
WRITES = frozenset({"POST", "PUT", "PATCH"})
# Headers of an answer that are not replayed: recomputed for the replayed body.
_NOT_KEPT = frozenset({"content-length"})

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=8,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "Chosen by the caller (a UUID will do), one per intended write. A retry with the same key and"
            " request gets the first answer again, with `Idempotent-Replayed: true`, and changes nothing;"
            " the same key with another request is refused (409 idempotency-key-reused). Kept 24 hours."
        ),
    ),
]


class _RequestUnit(UnitOfWork):
    """A unit of work of a keyed write (a savepoint of its transaction): its outbox rows wait for the request's
    commit, and its audit lines are noted, to be audited again for each replay of the answer."""

    def __init__(
        self, conn: asyncpg.Connection, outbox: Outbox, *, correlation_id: str | None, region: Region | None
    ) -> None:
        super().__init__(conn, outbox, correlation_id=correlation_id, causation_id=None, region=region)
        self.audited: list[dict[str, str | None]] = []

    async def audit(
        self,
        *,
        actor: str,
        on_behalf_of: str,
        action: str,
        client_ref: str | None = None,
        subject: str | None = None,
        outcome: Literal["ok", "replayed"] = "ok",
    ) -> None:
        await super().audit(
            actor=actor,
            on_behalf_of=on_behalf_of,
            action=action,
            client_ref=client_ref,
            subject=subject,
            outcome=outcome,
        )
        self.audited.append({"action": action, "client_ref": client_ref, "subject": subject})

    def take_over(self, other: "_RequestUnit") -> None:
        """Carry another unit's outbox rows (after this one's: emission order) and audit lines."""
        self._pending += other._pending
        self.audited += other.audited
        other._pending, other.audited = [], []


@dataclass
class _KeyedRequest:
    """The transaction a keyed write runs in, whether it has claimed its key, and what its units left."""

    conn: asyncpg.Connection
    request_hash: str
    claimed: tuple[str, str] | None = None  # (organisation, key) once this request owns the key
    done: list[_RequestUnit] = field(default_factory=list)  # units whose savepoint was released

    async def write_outbox(self) -> list[dict[str, str | None]]:
        """Write the outbox rows of all its units in one flush (its key locks sorted across units); returns the
        audit lines they left."""
        if not self.done:
            return []
        first, *rest = self.done
        for unit in rest:
            first.take_over(unit)
        self.done = [first]
        await first.flush()
        return first.audited


_keyed: ContextVar[_KeyedRequest | None] = ContextVar("zorgstroom_keyed_request", default=None)


class _AnsweredBefore(Exception):
    """The key was answered before: the stored answer goes back instead of running the route."""

    def __init__(self, response: Response, audited: list[dict[str, str | None]]) -> None:
        super().__init__("answered before")
        self.response, self.audited = response, audited


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests the same: method, path, query and body (JSON compared by content, so key
    order and spacing do not matter)."""
    try:
        content = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except ValueError:  # not JSON: refused by validation later, compared byte for byte meanwhile
        content = body.hex()
    canonical = json.dumps([method, path, query, content])
    return hashlib.sha256(canonical.encode()).hexdigest()


def credential_of(request: Request, principal: Principal | None = None) -> str:
    """The caller's credential: for a static token the digest of the token (a name need not be unique, a
    token is); for an access token its issuer, client and person, which outlive the token itself (a client
    renews its token every few minutes, and a retry after that is still the same caller's retry)."""
    if principal is not None and principal.issuer is not None:
        identity = json.dumps(["access-token", principal.issuer, principal.name, principal.subject])
        return hashlib.sha256(identity.encode()).hexdigest()
    _, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token_digest(token)


async def claim_key(request: Request, principal: CurrentPrincipal, key: IdempotencyKey = None) -> None:
    """Claim the key for this request (waiting for a request in flight with it), or answer as before."""
    keyed = _keyed.get()
    if key is None or keyed is None:
        return
    organisation = principal.organisation
    # The credential is part of what must match: another credential of the same organisation (even one of
    # the same name) that happens on the same key is refused, and never reads an answer given to another.
    fingerprint = hashlib.sha256(f"{credential_of(request, principal)}\0{keyed.request_hash}".encode()).hexdigest()
    claimed = await keyed.conn.fetchval(
        "INSERT INTO idempotent_requests (organisation, key, request_hash, roles) VALUES ($1, $2, $3, $5)"
        " ON CONFLICT (organisation, key) DO UPDATE SET request_hash = excluded.request_hash,"
        " roles = excluded.roles, status = NULL, headers = NULL, body = NULL, audited = NULL, created_at = now()"
        " WHERE idempotent_requests.created_at < now() - $4::interval RETURNING true",
        organisation,
        key,
        fingerprint,
        KEY_LIFETIME,
        sorted(role.value for role in principal.roles),
    )
    if claimed:
        keyed.claimed = (organisation, key)
        return
    # Read committed: the holder of the key has committed (the insert above waited for it), so this sees it.
    row = await keyed.conn.fetchrow(
        "SELECT request_hash, roles, status, headers, body, audited FROM idempotent_requests"
        " WHERE organisation = $1 AND key = $2",
        organisation,
        key,
    )
    if row is None or row["status"] is None:  # expired and purged between the two statements
        raise Conflict(f"a request with this {HEADER} did not complete: send it again")
    if not hmac.compare_digest(row["request_hash"], fingerprint):
        raise Conflict(f"this {HEADER} was used before with another request", kind="idempotency-key-reused")
    still_authorised(principal, row["roles"])
    headers = dict(row["headers"]) | {REPLAYED: "true"}
    raise _AnsweredBefore(Response(row["body"], status_code=row["status"], headers=headers), row["audited"] or [])


def still_authorised(principal: Principal, roles_then: list[str] | None) -> None:
    """The first answer passed the route's checks with the roles held then: if the credential has lost any of
    them, the route might refuse it now, so the answer is not replayed (which role the route needs, only the
    route knows)."""
    lost = sorted(set(roles_then or ()) - {role.value for role in principal.roles})
    if roles_then is None or lost:
        raise Forbidden(f"credential {principal.name!r} no longer holds the roles of its first request: {lost}")


async def _keep_answer(
    keyed: _KeyedRequest, organisation: str, key: str, response: Response, audited: list[dict[str, str | None]]
) -> None:
    headers = {name: value for name, value in response.headers.items() if name not in _NOT_KEPT}
    await keyed.conn.execute(
        "UPDATE idempotent_requests SET status = $3, headers = $4, body = $5, audited = $6"
        " WHERE organisation = $1 AND key = $2",
        organisation,
        key,
        response.status_code,
        headers,
        bytes(response.body),
        audited,
    )


async def _audit_replay(
    conn: asyncpg.Connection, request: Request, route: str, audited: list[dict[str, str | None]]
) -> None:
    """A replay shows the first answer again: one line per line of the first answer, outcome 'replayed', in the
    replaying caller's name and its person's, not the first answer's (a write that audited nothing still leaves
    one line, its route)."""
    principal: Principal = request.state.principal
    lines = audited or [{"action": f"{request.method} {route}", "client_ref": None, "subject": None}]
    trace = current_trace_id()
    await conn.executemany(
        "INSERT INTO audit_log (actor, on_behalf_of, person, action, client_ref, subject, outcome, correlation_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'replayed', $7)",
        [
            (
                principal.name,
                principal.organisation,
                principal.subject,
                a["action"],
                a["client_ref"],
                a["subject"],
                trace,
            )
            for a in lines
        ],
    )


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def _answer_once(request: Request, handler: Handler, route: str) -> Response:
    """Run a keyed write in one transaction with its key; keep a success's answer, never a refusal's."""
    context: ServiceContext = request.app.state.context
    body = await request.body()  # kept by the request: the route reads the same bytes
    keyed_hash = request_hash(request.method, request.url.path, request.url.query, body)
    async with context.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        keyed = _KeyedRequest(conn, keyed_hash)
        token = _keyed.set(keyed)
        try:
            try:
                response = await handler(request)
            finally:
                _keyed.reset(token)
            if response.status_code >= 400:  # a refusal: nothing to keep
                await transaction.rollback()
                return response
            await _commit_answer(keyed, response)
        except _AnsweredBefore as before:  # nothing changes but the audit trail
            await _audit_replay(conn, request, route, before.audited)
            await transaction.commit()
            return before.response
        except BaseException:
            with contextlib.suppress(Exception):  # the route's own error is the one to report
                await transaction.rollback()
            raise
        await transaction.commit()
        return response


async def _commit_answer(keyed: _KeyedRequest, response: Response) -> None:
    """The last statements of a keyed write before its commit: its events, then its answer."""
    audited = await keyed.write_outbox()
    if keyed.claimed is not None:
        await _keep_answer(keyed, *keyed.claimed, response, audited)


class ReplayableRoute(APIRoute):
    """A route class whose writes (POST, PUT, PATCH) accept an optional Idempotency-Key and replay their first
    answer to a retry: `APIRouter(route_class=ReplayableRoute)`. Reads pass through unchanged."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in kwargs.get("methods") or ()}
        dependencies = list(kwargs.get("dependencies") or [])
        if methods & WRITES and not any(d.dependency is claim_key for d in dependencies):
            kwargs["dependencies"] = [*dependencies, Depends(claim_key)]
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if not (self.methods or set()) & WRITES:
            return handler

        async def replayable(request: Request) -> Response:
            if HEADER.lower() not in request.headers:
                return await handler(request)
            return await _answer_once(request, handler, self.path)

        return replayable


@contextlib.asynccontextmanager
async def request_unit_of_work(
    context: "ServiceContext", *, correlation_id: str | None = None
) -> AsyncIterator[UnitOfWork]:
    """A unit of work for a route: inside a keyed write it is part of the transaction that keeps the key and
    the answer (a savepoint on its connection); otherwise a transaction of its own."""
    keyed = _keyed.get()
    if keyed is None:
        async with context.unit_of_work(correlation_id=correlation_id) as uow:
            yield uow
        return
    async with keyed.conn.transaction():
        uow = _RequestUnit(keyed.conn, context.outbox, correlation_id=correlation_id, region=context.region)
        yield uow
    keyed.done.append(uow)  # its savepoint was released: its rows are written at the request's commit


async def purge_expired(pool: asyncpg.Pool) -> int:
    """Delete keys older than their lifetime (a claim ignores them already)."""
    deleted = await pool.execute(
        "DELETE FROM idempotent_requests WHERE created_at < now() - $1::interval", KEY_LIFETIME
    )
    return int(deleted.split()[-1])
