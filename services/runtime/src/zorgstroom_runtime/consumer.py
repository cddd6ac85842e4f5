"""The idempotent consumer: once applied per event_id, offsets committed after the transaction.

Each message is opened as an Envelope and its event model. What cannot be parsed or validated goes
to the topic's `.dlq` twin with the reason in headers, and the partition moves on. A transient error
(database away) is retried with back-off and never skipped. A handler that keeps failing for another
reason is dead-lettered after `max_attempts`, so one poison message cannot stop a partition forever.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from opentelemetry import trace
from pydantic import ValidationError

from zorgstroom_contracts import Envelope, dlq_topic
from zorgstroom_contracts.envelope import UnknownEventType, open_json
from zorgstroom_contracts.events import Event
from zorgstroom_runtime import metrics
from zorgstroom_runtime.db import TRANSIENT_DB_ERRORS
from zorgstroom_runtime.kafka import KafkaConnection, new_producer
from zorgstroom_runtime.outbox import Outbox, UnitOfWork
from zorgstroom_runtime.region import Region
from zorgstroom_runtime.telemetry import context_from_headers, tracer

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Envelope, Any], Awaitable[None]]


class Rejected(Exception):
    """A handler's verdict that an event is invalid for this consumer: dead-letter it, do not retry."""


@dataclass(frozen=True)
class Subscription:
    """A consumer group's topics and the handler for each event type it applies."""

    group_id: str
    topics: list[str]
    handlers: dict[str, Handler]


class DeadLetter(Exception):
    """This message goes to the `.dlq` twin with `reason`; the partition moves on."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason, self.error_type = reason, error_type


def open_record(
    record: ConsumerRecord, handles: Callable[[str], bool], *, one_pass: bool = False
) -> tuple[Envelope, Event | None]:
    """The envelope and, when this consumer handles its type, the validated event; DeadLetter if unusable.

    With `one_pass`, a current, known event is validated in one pass (contracts' `open_json`); its
    envelope's `data` is then the event model. Whatever that pass refuses is opened the two-step way
    below, which gives the precise dead-letter reason.
    """
    if one_pass:
        with contextlib.suppress(ValidationError, UnknownEventType):
            envelope, event = open_json(record.value or b"")
            return (envelope, event) if handles(envelope.event_type) else (envelope, None)
    try:
        envelope = Envelope.model_validate_json(record.value or b"")
    except ValidationError as error:
        raise DeadLetter(f"not a valid envelope: {_describe(error)}", "InvalidEnvelope") from error
    if not handles(envelope.event_type):
        return envelope, None  # another consumer's event type on a shared topic
    try:
        return envelope, envelope.open()
    except UnknownEventType as error:
        raise DeadLetter(f"unknown event type or version: {error}", "UnknownEventType") from error
    except ValidationError as error:
        raise DeadLetter(
            f"{envelope.event_type} v{envelope.schema_version} data invalid: {_describe(error)}", "InvalidEvent"
        ) from error


async def send_dead_letter(dlq: Any, record: ConsumerRecord, dead: DeadLetter, group_id: str, service: str) -> None:
    log.error("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, dead.reason)
    headers = [
        *[(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq-")],
        ("dlq-reason", dead.reason.encode()[:4000]),
        ("dlq-error-type", dead.error_type.encode()),
        ("dlq-source-topic", record.topic.encode()),
        ("dlq-source-partition", str(record.partition).encode()),
        ("dlq-source-offset", str(record.offset).encode()),
        ("dlq-consumer-group", group_id.encode()),
    ]
    # If this fails the error ends the consume loop before the offset is committed: the message
    # is read again after the restart, so it is never skipped without its dead letter.
    await dlq.send_and_wait(dlq_topic(record.topic), value=record.value, key=record.key, headers=headers)
    metrics.DEAD_LETTERS.labels(service, record.topic).inc()


class IdempotentConsumer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        kafka: KafkaConnection,
        subscription: Subscription,
        *,
        max_attempts: int = 5,
        retry_base_seconds: float = 0.2,
        region: Region | None = None,
    ) -> None:
        self.region = region
        self.pool, self.outbox, self.kafka, self.subscription = pool, outbox, kafka, subscription
        self.max_attempts, self.retry_base_seconds = max_attempts, retry_base_seconds
        self.service = outbox.producer
        self.last_error: str | None = None  # set while the consume loop is paused by an error

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.last_error is None:  # it had been polling fine: a new outage starts from short waits
                    backoff = 0.5
                log.warning("consumer %s paused: %r; retrying in %.1fs", self.subscription.group_id, error, backoff)
                self.last_error = repr(error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.subscription.topics,
            **self.kafka.options(),
            group_id=self.subscription.group_id,
            client_id=f"{self.service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=200,
        )
        dlq = new_producer(self.kafka, f"{self.service}-dlq")
        await consumer.start()
        try:
            await dlq.start()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=200)
                self.last_error = None
                for tp, records in batches.items():
                    for record in records:
                        await self._handle_record(record, dlq)
                    await consumer.commit({tp: records[-1].offset + 1})
                    self._report_lag(consumer, tp, records[-1].offset + 1)
        finally:
            await consumer.stop()
            await dlq.stop()

    def _report_lag(self, consumer: AIOKafkaConsumer, tp: TopicPartition, position: int) -> None:
        highwater = consumer.highwater(tp)
        if highwater is not None:
            metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(max(0, highwater - position))

    async def _handle_record(self, record: ConsumerRecord, dlq: Any) -> None:
        with tracer().start_as_current_span(
            f"{record.topic} process",
            context=context_from_headers(record.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self.subscription.group_id,
                "messaging.kafka.offset": record.offset,
                "messaging.destination.partition.id": str(record.partition),
            },
        ) as span:
            try:
                outcome = await self._apply(record)
            except DeadLetter as dead:
                span.set_attribute("zorgstroom.dead_letter_reason", dead.reason)
                await self._dead_letter(record, dlq, dead)
                outcome = "dead_lettered"
            metrics.EVENTS_CONSUMED.labels(self.service, record.topic, outcome).inc()

    async def _apply(self, record: ConsumerRecord) -> str:
        envelope, event, handler = self._open(record)
        if handler is None:
            return "ignored"
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._apply_once(record, envelope, event, handler)
            except TRANSIENT_DB_ERRORS as error:
                delay = min(self.retry_base_seconds * 2 ** min(attempt, 8), 30.0)
                log.warning("transient error applying %s, retry in %.1fs: %r", envelope.event_id, delay, error)
                await asyncio.sleep(delay)
            except Rejected as error:
                raise DeadLetter(f"rejected by {self.subscription.group_id}: {error}", "Rejected") from error
            except Exception as error:
                if attempt >= self.max_attempts:
                    raise DeadLetter(
                        f"handler failed {attempt} times: {type(error).__name__}: {error}", type(error).__name__
                    ) from error
                log.exception("handler failed for %s (attempt %d)", envelope.event_id, attempt)
                await asyncio.sleep(self.retry_base_seconds * 2**attempt)

    def _open(self, record: ConsumerRecord) -> tuple[Envelope, Event | None, Handler | None]:
        envelope, event = open_record(record, lambda event_type: event_type in self.subscription.handlers)
        return envelope, event, self.subscription.handlers.get(envelope.event_type) if event is not None else None

    async def _apply_once(
        self, record: ConsumerRecord, envelope: Envelope, event: Event | None, handler: Handler
    ) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                "INSERT INTO processed_events (consumer, event_id, topic) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING true",
                self.subscription.group_id,
                envelope.event_id,
                record.topic,
            )
            if not first:
                return "duplicate"
            uow = UnitOfWork(
                conn,
                self.outbox,
                correlation_id=envelope.correlation_id,
                causation_id=str(envelope.event_id),
                region=self.region,
            )
            await handler(uow, envelope, event)
            await uow.flush()
        return "applied"

    async def _dead_letter(self, record: ConsumerRecord, dlq: Any, dead: DeadLetter) -> None:
        await send_dead_letter(dlq, record, dead, self.subscription.group_id, self.service)


def _describe(error: ValidationError) -> str:
    """Field locations and messages only: input values could carry personal data."""
    return json.dumps(
        [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in error.errors(include_input=False)][:10]
    )
