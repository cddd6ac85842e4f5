"""The transactional outbox: events are written with the state change, then relayed to Kafka.

`UnitOfWork.emit` stores an event in the same transaction as the change that caused it, with the
current trace context; the rows are written at the end of the transaction under a lock per key, so
that per-key order is commit order (see `UnitOfWork.flush`). The relay that publishes them is in
relay.py.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import asyncpg

from zorgstroom_contracts import Envelope, spec_for, topic_name
from zorgstroom_contracts.events import Event
from zorgstroom_runtime.auth import acting_person
from zorgstroom_runtime.region import Region

if TYPE_CHECKING:
    from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.telemetry import current_trace_carrier

log = logging.getLogger(__name__)
DEFAULT_RETENTION = timedelta(days=7)


# Kafka's default message size is 1 MB; an event is far smaller (the HTTP body limit is 64 KiB), so anything
# near this is a fault, refused while its transaction can still roll back rather than parked by the relay.
MAX_EVENT_BYTES = 512 * 1024
AUDIT_COLUMNS = "actor, on_behalf_of, person, action, client_ref, subject, outcome, correlation_id"


class RelayWake:
    """How a commit that wrote outbox rows wakes the relay, without a NOTIFY in every transaction.

    A NOTIFY is queued at commit under one lock for the whole database, so transactions that notify commit one
    at a time (16 writers: about a third of the commits a second they make without it). So a relay running in
    this process says so (`attach`): while it holds the lease, a commit wakes it in-process (`committed`), an
    asyncio event and nothing sent; while it stands by, commits are told to the leading process by at most one
    NOTIFY per `interval`, sent after them by `notify_after_commits` (the relay runs it). Only where no relay
    runs in this process does each transaction NOTIFY at commit (`in_transaction`), as every process once did.
    A lost wake-up costs latency, never an event: the leading relay reads the outbox every poll anyway.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self._relays: list[tuple[Callable[[], bool], Callable[[], None]]] = []
        self._due = asyncio.Event()

    def attach(self, leading: Callable[[], bool], wake: Callable[[], None]) -> Callable[[], None]:
        """A relay of this process: whether it leads now, and how to wake it. Returns its detach."""
        entry = (leading, wake)
        self._relays.append(entry)
        return lambda: self._relays.remove(entry)

    @property
    def in_transaction(self) -> bool:
        """Whether a unit of work must NOTIFY in its own transaction: no relay of this process will tell."""
        return not self._relays

    def committed(self) -> None:
        """Outbox rows were committed: wake the relay of this process that leads, else NOTIFY soon."""
        woken = False
        for leading, wake in self._relays:
            if leading():
                wake()
                woken = True
        if not woken and self._relays:
            self._due.set()

    async def notify_after_commits(self, pool: asyncpg.Pool, channel: str) -> None:
        """Send a NOTIFY after commits `committed` saw while no relay of this process led, at most one per
        interval; cleared before sending, so a commit during a send gets a NOTIFY after it. Runs until cancelled."""
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await pool.execute("SELECT pg_notify($1, '')", channel)
            except Exception as error:  # the leading relay's poll reads the rows all the same
                log.debug("relay wake-up NOTIFY failed: %r", error)
            await asyncio.sleep(self.interval)


@dataclass(frozen=True)
class Outbox:
    """Where and as whom a service writes its events."""

    producer: str
    region: str
    topic_prefix: str
    schema: str
    wake: RelayWake = field(default_factory=RelayWake, compare=False, repr=False)

    @property
    def channel(self) -> str:
        return f"outbox_{self.schema}"


class UnitOfWork:
    """One database transaction: the state change, its audit line and the events it causes."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        outbox: Outbox,
        *,
        correlation_id: str | None,
        causation_id: str | None,
        region: Region | None = None,
    ) -> None:
        self.conn = conn
        self.outbox = outbox
        self._region = region
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.emitted: list[Envelope] = []
        self._pending: list[tuple[Any, ...]] = []  # outbox rows, written by flush() before commit
        self.written = False  # outbox rows written: the relay is woken once they are committed

    @property
    def region(self) -> Region:
        """The region (its data and policies) the service runs for."""
        if self._region is None:
            raise RuntimeError("this unit of work was opened without its region")
        return self._region

    async def emit(
        self,
        event: Event,
        *,
        occurred_at: datetime | None = None,
        also_to: Sequence[str] = (),
        copy: Event | None = None,
    ) -> Envelope:
        """Store the event for its contract topic, and a copy (same event_id) for each of `also_to`.

        `copy` is what the copies carry when their readers may see less than the contract topic's
        (a provider's copy leaves out what the provider does not need): the same type and key.
        """
        spec = spec_for(event)
        envelope = Envelope.wrap(
            event,
            producer=self.outbox.producer,
            region=self.outbox.region,
            occurred_at=occurred_at,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )
        carrier, key = current_trace_carrier(), spec.key_of(envelope.data)
        copied = envelope
        if copy is not None:
            if type(copy) is not type(event) or spec.key_of(copy.model_dump(mode="json")) != key:
                raise ValueError("a copy must be an event of the same type with the same key")
            copied = envelope.model_copy(update={"data": copy.model_dump(mode="json")})
        rows = [(envelope, topic_name(spec.topic, self.outbox.topic_prefix))]
        rows += [(copied, topic_name(t, self.outbox.topic_prefix)) for t in also_to]
        payloads = [(e, topic, e.model_dump_json()) for e, topic in rows]
        for e, _, payload in payloads:
            if len(payload.encode()) > MAX_EVENT_BYTES:  # refused here, in its transaction, not by Kafka later
                raise ValueError(f"{e.event_type} is {len(payload.encode())} bytes; an event may be {MAX_EVENT_BYTES}")
        self._pending += [
            (e.event_id, topic, key, e.event_type, e.schema_version, payload, carrier) for e, topic, payload in payloads
        ]
        self.emitted.append(envelope)
        return envelope

    async def flush(self, *, notify_at_commit: bool = True) -> None:
        """Write the emitted events into the outbox, last thing before the transaction commits, and NOTIFY the
        relay at commit unless the caller wakes it after the commit (`notify_at_commit=False`: unit_of_work).

        Per-key order must be commit order (a later transaction on a key may have read the earlier's
        result). The rows are therefore written only at the end, under a transaction-scoped advisory
        lock per (topic, key), taken in sorted order (no deadlock between two flushing transactions):
        a second transaction on the same key waits here until the first has committed, so its rows get
        higher ids and become visible later, and the relay, publishing in id order, keeps that order.
        """
        if not self._pending:
            return
        locks = sorted({_lock_id(topic, key) for _, topic, key, *_ in self._pending})
        await self.conn.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest($1::bigint[]) AS k ORDER BY k) AS s",
            locks,
        )
        await self.conn.executemany(
            "INSERT INTO outbox (event_id, topic, message_key, event_type, schema_version, payload,"
            " trace_context) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self._pending,
        )
        if notify_at_commit:
            await self.conn.execute("SELECT pg_notify($1, '')", self.outbox.channel)  # delivered at commit
        self._pending, self.written = [], True

    def pending_as_ctes(self, first: int, *, after: str) -> tuple[str, list[Any]]:
        """The emitted events as two CTEs (`outbox_locks`, `outbox_rows`) of ONE statement that also writes the
        change causing them, with their parameters numbered from `$first`; the statement then owns them.

        A lone statement is a transaction of its own, so this saves the BEGIN, COMMIT and per-statement round
        trips of a unit of work (intake's registration: one statement in place of eight). The order guarantee
        of `flush` holds: the rows are written only once the locks per (topic, key) are held, and those are
        taken only after the CTE named `after` has produced a row (a claim the statement depends on: nothing
        is locked, and no row written, when it produces none). Follow with `SELECT pg_notify(...)` for the
        relay (`notify_sql`), and leave the wake-up after the commit to `statement_unit_of_work`."""
        pending, self._pending = self._pending, []
        self.written = self.written or bool(pending)
        locks = sorted({_lock_id(topic, key) for _, topic, key, *_ in pending})
        columns: list[tuple[Any, ...]] = list(zip(*pending, strict=True)) if pending else [()] * 7
        n = [f"${first + i}" for i in range(8)]
        sql = (
            f"outbox_locks AS (SELECT count(pg_advisory_xact_lock(k)) AS taken FROM"
            f" (SELECT k FROM unnest({n[0]}::bigint[]) AS k, {after} ORDER BY k) AS s),"
            " outbox_rows AS (INSERT INTO outbox (event_id, topic, message_key, event_type, schema_version, payload,"
            " trace_context) SELECT r.event_id, r.topic, r.message_key, r.event_type, r.schema_version, r.payload,"
            f" r.trace_context::jsonb FROM unnest({n[1]}::uuid[], {n[2]}::text[], {n[3]}::text[], {n[4]}::text[],"
            f" {n[5]}::integer[], {n[6]}::text[], {n[7]}::text[])"
            " AS r(event_id, topic, message_key, event_type, schema_version, payload, trace_context), outbox_locks"
            f" WHERE EXISTS (SELECT FROM {after}))"
        )
        trace_contexts = [json.dumps(carrier) for carrier in columns[6]]
        return sql, [locks, *(list(column) for column in columns[:6]), trace_contexts]

    def notify_sql(self, parameter: int) -> tuple[str, str]:
        """The relay's wake-up as an expression for a statement's select list, and its parameter (the channel):
        `pg_notify` (delivered at commit) where no relay of this process is woken after it (RelayWake), else
        the channel alone, which notifies nothing."""
        if self.outbox.wake.in_transaction:
            return f"pg_notify(${parameter}, '')", self.outbox.channel
        return f"${parameter}::text", self.outbox.channel

    def audit_values(
        self,
        *,
        actor: str,
        on_behalf_of: str,
        action: str,
        client_ref: str | None = None,
        subject: str | None = None,
        outcome: Literal["ok", "replayed"] = "ok",
    ) -> tuple[Any, ...]:
        """One audit line's values, in the order of AUDIT_COLUMNS (for a statement that writes it with more)."""
        # The person of the request being served (NEN 7513), if it names one.
        return (actor, on_behalf_of, acting_person.get(), action, client_ref, subject, outcome, self.correlation_id)

    async def published(self, event_id: UUID) -> bool:
        """Whether an event this service emitted has reached Kafka (a row no longer kept was published)."""
        return bool(
            await self.conn.fetchval(
                "SELECT coalesce((SELECT published_at IS NOT NULL FROM outbox WHERE event_id = $1 LIMIT 1), true)",
                event_id,
            )
        )

    async def audit_as(
        self, principal: "Principal", action: str, *, client_ref: str | None = None, subject: str | None = None
    ) -> None:
        """The audit line of a caller's action: who (the credential), on whose behalf (its organisation)."""
        await self.audit(
            actor=principal.name,
            on_behalf_of=principal.organisation,
            action=action,
            client_ref=client_ref,
            subject=subject,
        )

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
        """One audit line; outcome 'replayed' when a retry is answered from what its Idempotency-Key kept."""
        await self.conn.execute(
            f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            *self.audit_values(
                actor=actor,
                on_behalf_of=on_behalf_of,
                action=action,
                client_ref=client_ref,
                subject=subject,
                outcome=outcome,
            ),
        )


@contextlib.asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool,
    outbox: Outbox,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    region: Region | None = None,
) -> AsyncIterator[UnitOfWork]:
    async with pool.acquire() as conn:
        async with conn.transaction():
            uow = UnitOfWork(conn, outbox, correlation_id=correlation_id, causation_id=causation_id, region=region)
            yield uow
            await uow.flush(notify_at_commit=outbox.wake.in_transaction)
        if uow.written:  # committed: now the relay may read the rows
            outbox.wake.committed()


@contextlib.asynccontextmanager
async def statement_unit_of_work(
    pool: asyncpg.Pool,
    outbox: Outbox,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    region: Region | None = None,
) -> AsyncIterator[UnitOfWork]:
    """A unit of work without a transaction around it: each statement commits by itself, so what must be all
    or nothing is written as ONE statement, its events through `pending_as_ctes`. An event emitted and not
    written so is refused (RuntimeError) rather than lost."""
    async with pool.acquire() as conn:
        uow = UnitOfWork(conn, outbox, correlation_id=correlation_id, causation_id=causation_id, region=region)
        try:
            yield uow
            if uow._pending:
                raise RuntimeError("events emitted in a statement unit of work must be written with pending_as_ctes")
        finally:
            if uow.written:  # each statement committed as it returned, even one followed by an error or a cancel
                outbox.wake.committed()


def _lock_id(topic: str, key: str) -> int:
    """A stable signed 64-bit advisory lock id for one (topic, key)."""
    digest = hashlib.blake2b(f"outbox\0{topic}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
