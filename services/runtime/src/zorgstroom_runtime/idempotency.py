"""Idempotency-Key on HTTP writes: a write's first answer is kept with its effect and replayed to each retry.

A service declares it once per router (`APIRouter(route_class=ReplayableRoute)`) and opens the units of
work of its routes with `request_unit_of_work`. A POST, PUT or PATCH that carries an `Idempotency-Key`
then runs in one transaction that also holds the key: the caller's organisation, the key, a hash of the
request and the credential and, at the end, the answer (status, headers, body). So the effect, its
events, its audit line and the answer commit together or not at all, and:

- a retry with the same key and request gets the stored answer with `Idempotent-Replayed: true`, and
  changes nothing (no event, no audit line);
- a retry while the first is in flight waits for it (on the key's row) and then gets that answer;
- the same key with another request gets 409 `idempotency-key-reused`;
- a refusal (4xx) or a failure is not kept: the key is free again for a corrected request.

A key is kept for `KEY_LIFETIME`; after that it is free again and the relay's purge deletes it.
"""

import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute

from zorgstroom_runtime.auth import CurrentPrincipal
from zorgstroom_runtime.errors import Conflict
from zorgstroom_runtime.outbox import UnitOfWork

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


@dataclass
class _KeyedRequest:
    """The transaction a keyed write runs in, and whether it has claimed its key."""

    conn: asyncpg.Connection
    request_hash: str
    claimed: tuple[str, str] | None = None  # (organisation, key) once this request owns the key


_keyed: ContextVar[_KeyedRequest | None] = ContextVar("zorgstroom_keyed_request", default=None)


class _AnsweredBefore(Exception):
    """The key was answered before: the stored answer goes back instead of running the route."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered before")
        self.response = response


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests the same: method, path, query and body (JSON compared by content, so key
    order and spacing do not matter)."""
    try:
        content = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except ValueError:  # not JSON: refused by validation later, compared byte for byte meanwhile
        content = body.hex()
    canonical = json.dumps([method, path, query, content])
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim_key(principal: CurrentPrincipal, key: IdempotencyKey = None) -> None:
    """Claim the key for this request (waiting for a request in flight with it), or answer as before."""
    keyed = _keyed.get()
    if key is None or keyed is None:
        return
    organisation = principal.organisation
    # The credential is part of what must match: another system of the same organisation that happens on the
    # same key is refused, and never reads an answer given to a caller with other roles.
    fingerprint = hashlib.sha256(f"{principal.name}\0{keyed.request_hash}".encode()).hexdigest()
    claimed = await keyed.conn.fetchval(
        "INSERT INTO idempotent_requests (organisation, key, request_hash) VALUES ($1, $2, $3)"
        " ON CONFLICT (organisation, key) DO UPDATE SET request_hash = excluded.request_hash, status = NULL,"
        " headers = NULL, body = NULL, created_at = now()"
        " WHERE idempotent_requests.created_at < now() - $4::interval RETURNING true",
        organisation,
        key,
        fingerprint,
        KEY_LIFETIME,
    )
    if claimed:
        keyed.claimed = (organisation, key)
        return
    # Read committed: the holder of the key has committed (the insert above waited for it), so this sees it.
    row = await keyed.conn.fetchrow(
        "SELECT request_hash, status, headers, body FROM idempotent_requests WHERE organisation = $1 AND key = $2",
        organisation,
        key,
    )
    if row is None or row["status"] is None:  # expired and purged between the two statements
        raise Conflict(f"a request with this {HEADER} did not complete: send it again")
    if not hmac.compare_digest(row["request_hash"], fingerprint):
        raise Conflict(f"this {HEADER} was used before with another request", kind="idempotency-key-reused")
    headers = dict(row["headers"]) | {REPLAYED: "true"}
    raise _AnsweredBefore(Response(row["body"], status_code=row["status"], headers=headers))


async def _keep_answer(keyed: _KeyedRequest, organisation: str, key: str, response: Response) -> None:
    headers = {name: value for name, value in response.headers.items() if name not in _NOT_KEPT}
    await keyed.conn.execute(
        "UPDATE idempotent_requests SET status = $3, headers = $4, body = $5 WHERE organisation = $1 AND key = $2",
        organisation,
        key,
        response.status_code,
        headers,
        bytes(response.body),
    )


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def _answer_once(request: Request, handler: Handler) -> Response:
    """Run a keyed write in one transaction with its key; keep a success's answer, never a refusal's."""
    context: ServiceContext = request.app.state.context
    body = await request.body()  # kept by the request: the route reads the same bytes
    keyed_hash = request_hash(request.method, request.url.path, request.url.query, body)
    async with context.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        keyed = _KeyedRequest(conn, keyed_hash)
        token = _keyed.set(keyed)
        replayed = False
        try:
            response = await handler(request)
        except _AnsweredBefore as before:
            response, replayed = before.response, True
        except BaseException:
            with contextlib.suppress(Exception):  # the route's own error is the one to report
                await transaction.rollback()
            raise
        finally:
            _keyed.reset(token)
        if replayed or response.status_code >= 400:  # nothing changed, or a refusal: nothing to keep
            await transaction.rollback()
            return response
        if keyed.claimed is not None:
            await _keep_answer(keyed, *keyed.claimed, response)
        await transaction.commit()
        return response


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
            return await _answer_once(request, handler)

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
        uow = UnitOfWork(
            keyed.conn, context.outbox, correlation_id=correlation_id, causation_id=None, region=context.region
        )
        yield uow
        await uow.flush()


async def purge_expired(pool: asyncpg.Pool) -> int:
    """Delete keys older than their lifetime (a claim ignores them already)."""
    deleted = await pool.execute(
        "DELETE FROM idempotent_requests WHERE created_at < now() - $1::interval", KEY_LIFETIME
    )
    return int(deleted.split()[-1])
