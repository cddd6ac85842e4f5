"""Projections fed in batches: one poll from Kafka, one database transaction, offsets committed after it.

A read model (reporting's projections) does not need one transaction per event: it is written by one
consumer, and its writes are upserts. `BatchConsumer` takes what one poll returns (records of several
partitions), opens every record, and hands the usable ones to the projection in ONE transaction. The
projection records each event id in its own ledger table in that transaction, so a second delivery
changes nothing (per-event idempotency, kept in a batch). Offsets of every partition in the poll are
committed only after the transaction has committed.

What cannot be opened (no envelope, unknown type or version, invalid data) is dead-lettered alone before
the batch is written. If the batch's transaction fails for a reason that is not transient, the batch is
applied again one event per transaction, so the one bad event is dead-lettered alone and its neighbours,
of whichever partition, are applied. A transient error (database away) retries the whole batch with
back-off and never skips it.
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from opentelemetry import trace

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import Event
from zorgstroom_runtime import metrics
from zorgstroom_runtime.consumer import DeadLetter, Rejected, open_record, send_dead_letter
from zorgstroom_runtime.db import TRANSIENT_DB_ERRORS
from zorgstroom_runtime.kafka import KafkaConnection, new_producer
from zorgstroom_runtime.telemetry import context_from_headers, tracer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One record, opened: where it came from, its envelope and its validated event."""

    record: ConsumerRecord
    envelope: Envelope
    event: Event


class Projection(Protocol):
    """A read model written in batches.

    `apply` writes the deliveries in the caller's transaction, with unqualified table names (the
    connection's search_path says whether that is the live schema or a rebuild's), and returns those
    applied for the first time: the ones its ledger had not seen.
    """

    name: str
    event_types: frozenset[str]
    tables: Sequence[str]

    async def apply(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> Sequence[Delivery]: ...


async def claim_new(conn: asyncpg.Connection, ledger: str, deliveries: Sequence[Delivery]) -> list[Delivery]:
    """Record the batch's event ids in `ledger` in one statement; the deliveries not recorded before.

    An event id that occurs twice in one batch (a redelivery inside one poll) is applied once.
    """
    ids = sorted({d.envelope.event_id for d in deliveries})  # sorted: concurrent writers lock in one order
    new = {
        row[0]
        for row in await conn.fetch(
            f"INSERT INTO {ledger} (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id",
            ids,
        )
    }
    fresh: list[Delivery] = []
    for delivery in deliveries:
        if delivery.envelope.event_id in new:
            new.discard(delivery.envelope.event_id)
            fresh.append(delivery)
    return fresh


def open_deliveries(
    records: Sequence[ConsumerRecord], event_types: frozenset[str]
) -> tuple[list[Delivery], list[tuple[ConsumerRecord, DeadLetter]], list[ConsumerRecord]]:
    """Usable deliveries, the records to dead-letter with their reason, and those of another's event type."""
    deliveries: list[Delivery] = []
    dead: list[tuple[ConsumerRecord, DeadLetter]] = []
    ignored: list[ConsumerRecord] = []
    for record in records:
        try:
            envelope, event = open_record(record, event_types.__contains__, one_pass=True)
        except DeadLetter as error:
            dead.append((record, error))
            continue
        if event is None:
            ignored.append(record)
        else:
            deliveries.append(Delivery(record, envelope, event))
    return deliveries, dead, ignored


class BatchConsumer:
    """The live consumer of a projection: a consumer group, one transaction per poll."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        kafka: KafkaConnection,
        projection: Projection,
        *,
        group_id: str,
        topics: Sequence[str],
        service: str,
        max_records: int = 500,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
    ) -> None:
        self.pool, self.kafka, self.projection = pool, kafka, projection
        self.group_id, self.topics, self.service = group_id, list(topics), service
        self.max_records, self.max_attempts, self.retry_base_seconds = max_records, max_attempts, retry_base_seconds
        self.last_error: str | None = None  # set while the consume loop is paused by an error

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.last_error is None:
                    backoff = 0.5
                log.warning("batch consumer %s paused: %r; retrying in %.1fs", self.group_id, error, backoff)
                self.last_error = repr(error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics,
            **self.kafka.options(),
            group_id=self.group_id,
            client_id=f"{self.service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
        )
        dlq = new_producer(self.kafka, f"{self.service}-dlq")
        await consumer.start()
        try:
            await dlq.start()
            while True:
                polled = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                self.last_error = None
                if not polled:
                    await self._report_idle_lag(consumer)
                    continue
                records = [record for batch in polled.values() for record in batch]
                await self.handle(records, dlq)
                positions = {tp: batch[-1].offset + 1 for tp, batch in polled.items()}
                await consumer.commit(positions)
                for tp, position in positions.items():
                    self._report_lag(consumer, tp, position)
        finally:
            await consumer.stop()
            await dlq.stop()

    async def handle(self, records: Sequence[ConsumerRecord], dlq: Any) -> None:
        """Apply one poll's records: the batch in one transaction, or one by one if it fails."""
        started = time.time_ns()
        deliveries, dead, ignored = open_deliveries(records, self.projection.event_types)
        for record, reason in dead:
            await send_dead_letter(dlq, record, reason, self.group_id, self.service)
            self._count(record.topic, "dead_lettered")
        for record in ignored:
            self._count(record.topic, "ignored")
        if not deliveries:
            return
        try:
            applied = await self._with_retries(deliveries, attempts=1)
        except _BatchFailed as failure:
            log.warning("batch of %d failed (%s); applying its events one by one", len(deliveries), failure)
            applied = []
            for delivery in deliveries:
                try:
                    applied.extend(await self._with_retries([delivery], attempts=self.max_attempts))
                except _BatchFailed as single:
                    await send_dead_letter(dlq, delivery.record, single.dead_letter, self.group_id, self.service)
                    self._count(delivery.record.topic, "dead_lettered")
        self._after_commit(deliveries, applied, started)

    async def _with_retries(self, deliveries: Sequence[Delivery], *, attempts: int) -> Sequence[Delivery]:
        """Apply in one transaction; transient errors retried without end, others up to `attempts` times."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    return await self.projection.apply(conn, deliveries)
            except TRANSIENT_DB_ERRORS as error:
                delay = min(self.retry_base_seconds * 2 ** min(attempt, 8), 30.0)
                log.warning("transient error applying a batch of %d, retry in %.1fs: %r", len(deliveries), delay, error)
                await asyncio.sleep(delay)
            except Rejected as error:
                raise _BatchFailed(DeadLetter(f"rejected by {self.group_id}: {error}", "Rejected")) from error
            except Exception as error:
                if attempt >= attempts:
                    raise _BatchFailed(
                        DeadLetter(
                            f"handler failed {attempt} times: {type(error).__name__}: {error}", type(error).__name__
                        )
                    ) from error
                log.exception("projection failed (attempt %d)", attempt)
                await asyncio.sleep(self.retry_base_seconds * 2**attempt)

    def _after_commit(self, deliveries: Sequence[Delivery], applied: Sequence[Delivery], started_ns: int) -> None:
        """Metrics and one consume span per event (child of its producer's trace), once the data is in."""
        applied_ids = {id(d) for d in applied}
        newest = max((d.envelope.occurred_at for d in applied), default=None)
        if newest is not None:
            metrics.PROJECTION_FRESHNESS.labels(self.service).set(newest.timestamp())
        for delivery in deliveries:
            outcome = "applied" if id(delivery) in applied_ids else "duplicate"
            self._count(delivery.record.topic, outcome)
            record = delivery.record
            span = tracer().start_span(
                f"{record.topic} process",
                context=context_from_headers(record.headers),
                kind=trace.SpanKind.CONSUMER,
                start_time=started_ns,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": record.topic,
                    "messaging.consumer.group.name": self.group_id,
                    "messaging.kafka.offset": record.offset,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.batch.message_count": len(deliveries),
                    "zorgstroom.outcome": outcome,
                },
            )
            span.end()

    def _count(self, topic: str, outcome: str) -> None:
        metrics.EVENTS_CONSUMED.labels(self.service, topic, outcome).inc()

    async def _report_idle_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Lag on quiet polls too, so a stalled partition does not keep showing its last figure."""
        for tp in consumer.assignment():
            self._report_lag(consumer, tp, await consumer.position(tp))

    def _report_lag(self, consumer: AIOKafkaConsumer, tp: TopicPartition, position: int) -> None:
        highwater = consumer.highwater(tp)
        if highwater is not None:
            metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(max(0, highwater - position))


class _BatchFailed(Exception):
    def __init__(self, dead_letter: DeadLetter) -> None:
        super().__init__(dead_letter.reason)
        self.dead_letter = dead_letter
