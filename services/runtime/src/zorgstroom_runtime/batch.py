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

The consumer is a FastStream batch subscriber (`batch=True`) with manual acknowledgement: the runtime
commits the whole poll itself after the transaction, or nacks it (FastStream seeks every partition of the
poll back to its first record). How a record is opened, retried and dead-lettered is delivery.py's, shared
with the per-event consumer.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry import trace

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.envelope import one_pass_validator
from zorgstroom_contracts.events import Event
from zorgstroom_runtime import metrics
from zorgstroom_runtime.broker import kafka_security, serve_broker
from zorgstroom_runtime.delivery import (
    Backoff,
    DeadLetter,
    DeadLetterProducer,
    apply_with_retries,
    open_record,
    readable,
    send_dead_letter,
)
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.lag import LagLabels
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
    # Sorted by the UUID's number (UUID's own order, without its comparison and hash in Python): concurrent
    # writers lock in one order.
    distinct = {d.envelope.event_id.int: d.envelope.event_id for d in deliveries}
    ids = [distinct[number] for number in sorted(distinct)]
    # The ids recorded now as one array, or NULL when all of them were (a replay's every batch).
    recorded = await conn.fetchval(
        f"WITH recorded AS (INSERT INTO {ledger} (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING"
        " RETURNING event_id) SELECT CASE WHEN count(*) = $2 THEN NULL ELSE coalesce(array_agg(event_id), '{}') END"
        " FROM recorded",
        ids,
        len(ids),
    )
    if recorded is None and len(ids) == len(deliveries):  # all new, none twice
        return list(deliveries)
    new = set(ids if recorded is None else recorded)
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
    validate = one_pass_validator()
    for record in records:
        try:  # a current, known event in one pass (delivery.open_record's first step, without its calls around it)
            typed = validate(record.value or b"")
        except Exception:  # anything else is opened the two-step way, which names the reason to dead-letter
            pass
        else:
            if typed.event_type in event_types:
                deliveries.append(Delivery(record, typed, typed.data))  # type: ignore[arg-type]
            else:
                ignored.append(record)
            continue
        try:
            envelope, event = open_record(record, event_types.__contains__)
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
        self.last_error: str | None = None  # set while consuming is paused by an error
        self._pauses = Backoff()  # after consecutive errors, before the poll is read again
        self.dead_letters = DeadLetterProducer(kafka, service, group_id)
        self._originals: dict[tuple[str, int, int], ConsumerRecord] = {}
        self.broker = self.build_broker()

    # -- the FastStream broker: built by the composition root's call, never at import

    def build_broker(self) -> KafkaBroker:
        """A consumer-only broker with one batch subscriber: what one poll returns, of every partition.

        Ack policy MANUAL: the batch's offsets are committed (FastStream's ack commits the consumer's
        position, just past what the poll returned, for each partition) only after the batch's
        transaction has committed and its dead letters were sent. Should anything still escape, the poll
        is nacked after a back-off: each of its partitions is sought back to its first record of the poll.
        """
        broker = KafkaBroker(
            self.kafka.servers,
            security=kafka_security(self.kafka),
            client_id=f"{self.service}-consumer",
            consumer_only=True,  # dead letters go through the runtime's acks=all idempotent producer
            allow_auto_create_topics=False,
            graceful_timeout=15.0,
            description=f"The events {self.service}'s projection reads, a poll at a time.",
            logger=log,
        )
        subscriber = self.subscriber = broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            batch=True,
            max_records=self.max_records,
            batch_timeout_ms=500,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            no_reply=True,
            parser=self._parse,
            decoder=_bodies,
            listener=LagLabels(self.service),  # a partition moved to another pod takes its lag figure along
            title=f"{self.group_id}:project",
            description=f"Consumer group {self.group_id}: a poll applied in one transaction, each event once.",
        )
        subscriber(self._apply_poll)
        return broker

    async def _parse(self, raw: tuple[ConsumerRecord, ...], original: Callable[[Any], Awaitable[Any]]) -> Any:
        """FastStream's batch parser decodes every header as UTF-8; one header that is not would fail the
        whole poll again and again. Such a header is left out of what FastStream sees; the record itself,
        headers and all, is what the batch is applied (or dead-lettered) from."""
        self._originals = {(r.topic, r.partition, r.offset): r for r in raw}
        return await original(tuple(readable(r) for r in raw))

    async def _apply_poll(self, bodies: list[bytes], message: KafkaMessage) -> None:
        """One poll: applied (or dead-lettered) in full, then its offsets committed."""
        records = [self._originals.get((r.topic, r.partition, r.offset), r) for r in message.raw_message]
        try:
            await self.handle(records, await self.dead_letters.started())
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Kafka away while dead-lettering, or a bug: read the poll again, later
            self.last_error = repr(error)
            log.warning("batch consumer %s: %r; the poll is read again", self.group_id, error)
            await self.dead_letters.close()
            await asyncio.sleep(self._pauses.next())
            await message.nack()
            return
        await message.ack()
        self.last_error = None
        self._pauses.reset()
        self._report_lag(message.consumer, records)

    async def run(self) -> None:
        await serve_broker(self.broker, self.subscriber, self.service, self._set_error, self.dead_letters.close)

    def _set_error(self, error: str | None) -> None:
        self.last_error = error
        if error is None:
            self._pauses.reset()

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
        except DeadLetter as failure:
            log.warning("batch of %d failed (%s); applying its events one by one", len(deliveries), failure)
            applied, kept = [], []
            for delivery in deliveries:
                try:
                    applied.extend(await self._with_retries([delivery], attempts=self.max_attempts))
                    kept.append(delivery)
                except DeadLetter as single:
                    await send_dead_letter(dlq, delivery.record, single, self.group_id, self.service)
                    self._count(delivery.record.topic, "dead_lettered")
            deliveries = kept  # what was dead-lettered is counted once, as dead-lettered
        self._after_commit(deliveries, applied, started)

    async def _with_retries(self, deliveries: Sequence[Delivery], *, attempts: int) -> Sequence[Delivery]:
        """Apply in one transaction (delivery.py's retry rules); DeadLetter once it is not worth trying again."""

        async def apply() -> Sequence[Delivery]:
            async with self.pool.acquire() as conn, conn.transaction():
                return await self.projection.apply(conn, deliveries)

        what = f"{deliveries[0].envelope.event_id}" if len(deliveries) == 1 else f"a batch of {len(deliveries)}"
        return await apply_with_retries(
            apply, attempts=attempts, base_seconds=self.retry_base_seconds, group_id=self.group_id, what=what
        )

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

    def _report_lag(self, consumer: Any, records: Sequence[ConsumerRecord]) -> None:
        if not isinstance(consumer, AIOKafkaConsumer):
            return  # FastStream's test broker has no positions
        last: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            last[tp] = max(last.get(tp, r.offset), r.offset)
        for tp, offset in last.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(
                    max(0, highwater - offset - 1)
                )


async def _bodies(message: StreamMessage[Any]) -> list[bytes]:
    return [bytes(body) for body in message.body]
