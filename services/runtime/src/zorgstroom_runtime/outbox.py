"""The transactional outbox: events are written with the state change, then relayed to Kafka.

`UnitOfWork.emit` stores an event in the same transaction as the change that caused it, with the
current trace context; the rows are written at the end of the transaction under a lock per key, so
that per-key order is commit order (see `UnitOfWork.flush`). `OutboxRelay` publishes unpublished rows
in id order with an idempotent, acks=all producer and marks them published; a crash between the two
publishes a row twice at worst.
"""

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace

from zorgstroom_contracts import Envelope, spec_for, topic_name
from zorgstroom_contracts.events import Event
from zorgstroom_runtime import metrics
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, new_producer, project_topics
from zorgstroom_runtime.region import Region

if TYPE_CHECKING:
    from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.telemetry import context_from_carrier, current_trace_carrier, tracer

log = logging.getLogger(__name__)
DEFAULT_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class Outbox:
    """Where and as whom a service writes its events."""

    producer: str
    region: str
    topic_prefix: str
    schema: str

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

    @property
    def region(self) -> Region:
        """The region (its data and policies) the service runs for."""
        if self._region is None:
            raise RuntimeError("this unit of work was opened without its region")
        return self._region

    async def emit(self, event: Event, *, occurred_at: datetime | None = None, also_to: Sequence[str] = ()) -> Envelope:
        """Store the event for its contract topic, and a copy (same event_id) for each of `also_to`."""
        spec = spec_for(event)
        envelope = Envelope.wrap(
            event,
            producer=self.outbox.producer,
            region=self.outbox.region,
            occurred_at=occurred_at,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )
        topics = [topic_name(spec.topic, self.outbox.topic_prefix)]
        topics += [topic_name(t, self.outbox.topic_prefix) for t in also_to]
        payload, carrier = envelope.model_dump_json(), current_trace_carrier()
        key = spec.key_of(envelope.data)
        self._pending += [
            (envelope.event_id, topic, key, envelope.event_type, envelope.schema_version, payload, carrier)
            for topic in topics
        ]
        self.emitted.append(envelope)
        return envelope

    async def flush(self) -> None:
        """Write the emitted events into the outbox, last thing before the transaction commits.

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
        await self.conn.execute("SELECT pg_notify($1, '')", self.outbox.channel)  # delivered at commit
        self._pending = []

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
        self, *, actor: str, on_behalf_of: str, action: str, client_ref: str | None = None, subject: str | None = None
    ) -> None:
        await self.conn.execute(
            "INSERT INTO audit_log (actor, on_behalf_of, action, client_ref, subject, correlation_id)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            actor,
            on_behalf_of,
            action,
            client_ref,
            subject,
            self.correlation_id,
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
    async with pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn, outbox, correlation_id=correlation_id, causation_id=causation_id, region=region)
        yield uow
        await uow.flush()


def _lock_id(topic: str, key: str) -> int:
    """A stable signed 64-bit advisory lock id for one (topic, key)."""
    digest = hashlib.blake2b(f"outbox\0{topic}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class OutboxRelay:
    """Publishes the outbox to Kafka. One relay per schema is active (a Postgres advisory lock)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        kafka: KafkaConnection,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.pool, self.outbox, self.kafka = pool, outbox, kafka
        self.batch_size, self.poll_seconds, self.retention = batch_size, poll_seconds, retention
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._published_since_error = False
        # Contract topics exist before services start; others (a provider's own) are made on first use.
        self._known_topics = set(project_topics(outbox.topic_prefix))

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self.pool.acquire() as lock_conn:
                    await self._hold_leadership(lock_conn)
                    await lock_conn.add_listener(self.outbox.channel, self._on_notify)
                    try:
                        await self._publish_until_cancelled()
                    finally:
                        await lock_conn.remove_listener(self.outbox.channel, self._on_notify)
            except asyncio.CancelledError:
                await self._close_producer()
                raise
            except Exception as error:  # database or Kafka away: nothing is lost, try again
                if self._published_since_error:  # it had been working: a new outage starts from short waits
                    backoff, self._published_since_error = 0.5, False
                log.warning("outbox relay paused: %r; retrying in %.1fs", error, backoff)
                await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _hold_leadership(self, conn: asyncpg.Connection) -> None:
        while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{self.outbox.schema}"):
            await asyncio.sleep(2)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _publish_until_cancelled(self) -> None:
        next_purge = 0.0
        while True:
            if time.monotonic() >= next_purge:
                await self.purge_published()
                next_purge = time.monotonic() + min(3600.0, self.retention.total_seconds() / 2 or 60.0)
            # Cleared before reading the outbox: a commit notified while this batch is being published
            # wakes the next turn at once instead of being lost until the next poll.
            self._wake.clear()
            published = await self.publish_batch()
            if published < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def purge_published(self) -> int:
        """Delete rows published longer ago than the retention; unpublished rows are never touched."""
        deleted = await self.pool.execute(
            "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1::interval",
            self.retention,
        )
        return int(deleted.split()[-1])

    async def publish_batch(self) -> int:
        rows = await self.pool.fetch(
            "SELECT id, topic, message_key, event_type, schema_version, payload, trace_context,"
            " extract(epoch FROM now() - created_at) AS age FROM outbox WHERE published_at IS NULL"
            " ORDER BY id LIMIT $1",
            self.batch_size,
        )
        # Set before publishing, so that with Kafka away each retry shows the oldest row growing older.
        metrics.OUTBOX_OLDEST_AGE.labels(self.outbox.producer).set(float(rows[0]["age"]) if rows else 0.0)
        if not rows:
            metrics.OUTBOX_BACKLOG.labels(self.outbox.producer).set(0)
            return 0
        await self._ensure_topics({row["topic"] for row in rows})
        producer = await self._ensure_producer()
        deliveries = [await self._send(producer, row) for row in rows]
        await asyncio.gather(*deliveries)
        await self.pool.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
        self._published_since_error = True
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self.outbox.producer, row["topic"]).inc()
        # A short batch drained what there was; only after a full one is the rest worth counting.
        full = len(rows) == self.batch_size
        backlog = await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") if full else 0
        metrics.OUTBOX_BACKLOG.labels(self.outbox.producer).set(backlog)
        if not full:
            metrics.OUTBOX_OLDEST_AGE.labels(self.outbox.producer).set(0.0)
        return len(rows)

    async def _send(self, producer: AIOKafkaProducer, row: asyncpg.Record) -> "asyncio.Future[Any]":
        parent = context_from_carrier(row["trace_context"] or {})
        with tracer().start_as_current_span(
            f"{row['topic']} publish",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row["topic"],
                "messaging.operation.type": "send",
                "zorgstroom.event_type": row["event_type"],
            },
        ):
            headers = [
                *[(k, v.encode("latin-1")) for k, v in current_trace_carrier().items()],
                ("event-type", row["event_type"].encode()),
                ("schema-version", str(row["schema_version"]).encode()),
                ("content-type", b"application/json"),
            ]
            delivery: asyncio.Future[Any] = await producer.send(
                row["topic"], value=row["payload"].encode(), key=row["message_key"].encode(), headers=headers
            )
            return delivery

    async def _ensure_topics(self, topics: set[str]) -> None:
        """Create topics outside the contract's fixed list (wmo.provider.<agb>.v1) before the first send:
        the broker does not create topics on its own, and a send to a missing topic would stall the relay."""
        missing = sorted(topics - self._known_topics)
        if missing:
            created = await ensure_topics(self.kafka, missing, partitions=3, attempts=3)
            if created:
                log.info("created topics %s", created)
            self._known_topics.update(missing)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = new_producer(self.kafka, f"{self.outbox.producer}-relay")
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
