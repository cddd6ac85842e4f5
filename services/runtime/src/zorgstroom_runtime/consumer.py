"""The idempotent consumer: once applied per event_id, offsets committed after the transaction.

Each per-event handler is a FastStream Kafka subscriber handler: one subscriber per service (its
consumer group, over the topics of the event types it handles), one handler per event type selected
by the envelope's `event_type`, and a catch-all last (without it a message no filter matches raises
SubscriberNotFound, which under a nack policy is read again forever).

Each message is opened as an Envelope and its event model (by the handler's decoder, upcasting
included). What cannot be parsed or validated goes to the topic's `.dlq` twin with the reason in
headers, and the partition moves on. A transient error (database away) is retried with back-off and
never skipped. A handler that keeps failing for another reason is dead-lettered after `max_attempts`,
so one poison message cannot stop a partition forever. How a record is opened, retried and
dead-lettered is delivery.py's (shared with the batch consumer); how handlers are declared, handlers.py's.

Ack policy: NACK_ON_ERROR. The offset is committed (FastStream's ack: the consumer's position, which
with FastStream's one-record-at-a-time consumer is just past this record) only after the handler has
returned, which is after its transaction has committed or its dead letter has been sent. Every outcome
of a message ends in a return; an error that still escapes (a bug in this module) seeks the partition
back to the message after a back-off, so nothing is skipped and nothing loops tightly. ACK and
REJECT_ON_ERROR would commit past a message whose handler raised; MANUAL would let the next message's
commit cover it.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy, BaseMiddleware
from faststream.exceptions import SubscriberNotFound
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.subscriber.usecase import LogicSubscriber
from faststream.message import StreamMessage
from opentelemetry import trace
from pydantic import ValidationError

from zorgstroom_contracts import Envelope, spec_for
from zorgstroom_contracts.envelope import envelope_model
from zorgstroom_contracts.events import Event
from zorgstroom_runtime import metrics
from zorgstroom_runtime.broker import kafka_security, serve_broker
from zorgstroom_runtime.delivery import (
    Backoff,
    DeadLetter,
    DeadLetterProducer,
    apply_with_retries,
    describe,
    open_record,
    readable,
)
from zorgstroom_runtime.handlers import Handler, On, Rejected, Subscription
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.lag import LagLabels
from zorgstroom_runtime.outbox import Outbox, UnitOfWork
from zorgstroom_runtime.region import Region

# The services declare their handlers with these (handlers.py); they are importable from here as before.
__all__ = ["IdempotentConsumer", "On", "Rejected", "Subscription"]

log = logging.getLogger(__name__)


class IdempotentConsumer:
    """The per-event handlers of one service as one FastStream subscriber; see the module's docstring."""

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
        self.last_error: str | None = None  # set while consuming is paused by an error
        self._pauses = Backoff()  # after errors that escaped a handler, before the message is read again
        self.dead_letters = DeadLetterProducer(kafka, self.service, subscription.group_id)
        self.broker = self.build_broker()

    # -- the FastStream broker: built here (the service's composition root builds this object), never at import

    def build_broker(self) -> KafkaBroker:
        """A consumer-only broker (no default acks=1 producer: dead letters go through the runtime's
        acks=all idempotent producer) with the service's one subscriber and its handlers."""
        broker = KafkaBroker(
            self.kafka.servers,
            security=kafka_security(self.kafka),
            client_id=f"{self.service}-consumer",
            consumer_only=True,  # no producer, no admin client: topics are created by the deploy, ACLs stay narrow
            allow_auto_create_topics=False,
            acks="all",  # should a producer ever be made from this broker, it is a safe one
            enable_idempotence=True,
            middlewares=(KafkaTelemetryMiddleware(), self._guard),
            graceful_timeout=15.0,
            description=f"The events {self.service} consumes, one handler per event type.",
            logger=log,
        )
        subscriber = self.subscriber = broker.subscriber(
            *self.subscription.topics,
            group_id=self.subscription.group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            max_poll_records=200,
            no_reply=True,  # a `reply_to` header of a producer must not make us publish anything
            parser=_with_readable_headers,
            listener=LagLabels(self.service),  # a partition moved to another pod takes its lag figure along
            title=f"{self.subscription.group_id}:consume",
            description=f"Consumer group {self.subscription.group_id}: each event applied once, in one transaction.",
        )
        for event_type in self.subscription.by_type:
            self._subscribe(subscriber, event_type)
        subscriber(self._other, decoder=_raw_body)  # catch-all, last: nothing raises SubscriberNotFound
        return broker

    def _subscribe(self, subscriber: LogicSubscriber[Any], event_type: str) -> None:
        model = envelope_model(event_type)

        async def decode(message: StreamMessage[Any]) -> Envelope:
            """The message as the current version's typed envelope (an older version upcast), or DeadLetter."""
            envelope, event = open_record(message.raw_message, lambda _: True, one_pass=True)
            if isinstance(envelope, model):
                return envelope
            if event is None:  # cannot happen (this decoder handles every type): never apply a message half-read
                raise DeadLetter(f"{envelope.event_type} could not be opened", "UnknownEventType")
            try:
                return model.model_validate(
                    {**dict(envelope), "schema_version": spec_for(event).schema_version, "data": event}
                )
            except ValidationError as error:  # an upcaster's output its model refuses: poison, not a bug loop
                raise DeadLetter(
                    f"{envelope.event_type} v{envelope.schema_version} data invalid: {describe(error)}", "InvalidEvent"
                ) from error

        async def handle(envelope: Envelope, message: KafkaMessage) -> str:
            event = cast("Event", envelope.data)  # a typed envelope's data is its event model (see decode)
            return await self._apply_opened(message.raw_message, envelope, event, self.subscription.by_type[event_type])

        handle.__annotations__["envelope"] = model  # the subscriber's pydantic type: documents and validates
        handle.__name__ = handle.__qualname__ = event_type
        handle.__doc__ = f"Apply {event_type} once per event_id, in one transaction with the handlers' writes."
        subscriber(handle, filter=_is_type(event_type), decoder=decode)

    async def _other(self, message: KafkaMessage) -> str:
        """Everything no event-type filter took: not an envelope (dead-lettered with the reason), or an event
        type of another consumer on a shared topic (ignored)."""
        return await self._apply(message.raw_message)

    def _guard(self, msg: Any, /, *, context: Any) -> "_Guard":
        return _Guard(msg, context=context, consumer=self)

    async def run(self) -> None:
        await serve_broker(self.broker, self.subscriber, self.service, self._set_error, self.dead_letters.close)

    def _set_error(self, error: str | None) -> None:
        self.last_error = error

    # -- what happens to one record

    def _open(self, record: ConsumerRecord) -> tuple[Envelope, Event | None, list[Handler[Any]] | None]:
        envelope, event = open_record(record, self.subscription.by_type.__contains__)
        return envelope, event, self.subscription.by_type.get(envelope.event_type) if event is not None else None

    async def _apply(self, record: ConsumerRecord) -> str:
        envelope, event, handlers = self._open(record)
        if handlers is None or event is None:
            return "ignored"
        return await self._apply_opened(record, envelope, event, handlers)

    async def _apply_opened(
        self, record: ConsumerRecord, envelope: Envelope, event: Event, handlers: Sequence[Handler[Any]]
    ) -> str:
        return await apply_with_retries(
            lambda: self._apply_once(record, envelope, event, handlers),
            attempts=self.max_attempts,
            base_seconds=self.retry_base_seconds,
            group_id=self.subscription.group_id,
            what=str(envelope.event_id),
        )

    async def _apply_once(
        self, record: ConsumerRecord, envelope: Envelope, event: Event, handlers: Sequence[Handler[Any]]
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
            for handler in handlers:
                await handler(uow, envelope, event)
            await uow.flush()
        return "applied"

    async def _dead_letter(self, record: ConsumerRecord, dead: DeadLetter) -> None:
        await self.dead_letters.send_until_sent(record, dead, self._set_error)

    def _report_lag(self, consumer: AIOKafkaConsumer | None, record: ConsumerRecord) -> None:
        if not isinstance(consumer, AIOKafkaConsumer):
            return
        tp = TopicPartition(record.topic, record.partition)
        with contextlib.suppress(Exception):
            highwater = consumer.highwater(tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(
                    max(0, highwater - record.offset - 1)
                )

    async def _pause(self, error: BaseException) -> None:
        """Wait before an escaped error lets the message be read again (never a tight re-seek loop)."""
        self.last_error = repr(error)
        delay = self._pauses.next()
        log.error("consumer %s: %r; the message is read again in %.1fs", self.subscription.group_id, error, delay)
        await asyncio.sleep(delay)


class _Guard(BaseMiddleware):
    """The runtime's own broker middleware, innermost (inside FastStream's telemetry span).

    consume_scope: dead letters (raised by a handler's decoder or by the handler), the outcome metric,
    the lag. after_processed: what never reached consume_scope, a parser or filter error (FastStream
    hands those to middlewares only here), is dead-lettered, and a SubscriberNotFound is acked as
    ignored (the catch-all makes it impossible; this is the second line); anything else escapes to the
    nack after a back-off.
    """

    def __init__(self, msg: Any, /, *, context: Any, consumer: IdempotentConsumer) -> None:
        super().__init__(msg, context=context)
        self.consumer = consumer
        self.reached = False

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
        self.reached = True
        consumer, record = self.consumer, msg.raw_message
        span = trace.get_current_span()
        span.set_attribute("messaging.consumer.group.name", consumer.subscription.group_id)
        try:
            outcome = await call_next(msg)
        except DeadLetter as dead:
            span.set_attribute("zorgstroom.dead_letter_reason", dead.reason)
            await consumer._dead_letter(record, dead)
            outcome = "dead_lettered"
        metrics.EVENTS_CONSUMED.labels(consumer.service, record.topic, str(outcome)).inc()
        consumer._report_lag(getattr(msg, "consumer", None), record)
        consumer.last_error = None
        consumer._pauses.reset()
        return None

    async def after_processed(
        self, exc_type: type[BaseException] | None = None, exc_val: BaseException | None = None, exc_tb: Any = None
    ) -> bool | None:
        if exc_val is None or isinstance(exc_val, asyncio.CancelledError) or not isinstance(exc_val, Exception):
            return False
        record = self.msg if isinstance(self.msg, ConsumerRecord) else None
        if record is None:
            return False
        if isinstance(exc_val, SubscriberNotFound):
            log.warning("no handler for %s[%d]@%d: ignored", record.topic, record.partition, record.offset)
            metrics.EVENTS_CONSUMED.labels(self.consumer.service, record.topic, "ignored").inc()
            return True
        if not self.reached:
            dead = DeadLetter(f"unreadable message: {type(exc_val).__name__}: {exc_val}", "Unparsable")
            await self.consumer._dead_letter(record, dead)
            metrics.EVENTS_CONSUMED.labels(self.consumer.service, record.topic, "dead_lettered").inc()
            return True
        await self.consumer._pause(exc_val)
        return False


async def _with_readable_headers(record: ConsumerRecord, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """One header a producer wrote in another encoding must not turn a valid event into a dead letter that
    no replay could ever apply: such a header is left out, the event is applied."""
    return await original(readable(record))


def _is_type(event_type: str) -> Callable[[StreamMessage[Any]], Awaitable[bool]]:
    async def matches(message: StreamMessage[Any]) -> bool:
        return _event_type_of(message.body) == event_type

    return matches


def _event_type_of(body: bytes) -> str | None:
    """The envelope's event_type, or None for anything that is not a JSON object naming one (never raises)."""
    try:
        value = json.loads(body)
    except (ValueError, TypeError):
        return None
    event_type = value.get("event_type") if isinstance(value, dict) else None
    return event_type if isinstance(event_type, str) else None


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return bytes(message.body)
