"""What both consumers do with a record: open it, retry applying it, or send it to its topic's `.dlq` twin.

The per-event consumer (consumer.py) and the batch consumer (batch.py) share these rules, so a change to
how an event is opened, retried or dead-lettered is made once:
- `open_record`: the envelope and the validated event, or `DeadLetter` with a reason that names fields,
  never values (they could carry personal data);
- `apply_with_retries`: a failure of the database (failures.py) is waited out for as long as it takes and
  counts nothing; a `Rejected` is dead-lettered at once; any other failure is tried `attempts` times;
- `DeadLetterProducer`: the runtime's acks=all idempotent producer, with the reason in `dlq-*` headers;
- `Backoff`: the one doubling wait used wherever something is tried again.
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from pydantic import ValidationError

from zorgstroom_contracts import EVENT_TYPES, Envelope, dlq_topic
from zorgstroom_contracts.envelope import UnknownEventType, open_json
from zorgstroom_contracts.events import Event
from zorgstroom_runtime import metrics
from zorgstroom_runtime.failures import waits_out
from zorgstroom_runtime.handlers import Rejected
from zorgstroom_runtime.kafka import KafkaConnection, new_producer

log = logging.getLogger(__name__)

T = TypeVar("T")
TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


class DeadLetter(Exception):
    """This message goes to the `.dlq` twin with `reason`; the partition moves on."""

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason, self.error_type = reason, error_type


class Backoff:
    """Waits that double from `first` up to `most` (by default 0.5, 1, 2, 4, 8, 10, 10 ... seconds)."""

    def __init__(self, first: float = 0.5, most: float = 10.0) -> None:
        self.first, self.most, self.tries = first, most, 0

    def next(self) -> float:
        delay = min(self.first * 2 ** min(self.tries, 8), self.most)
        self.tries += 1
        return float(delay)

    def reset(self) -> None:
        self.tries = 0


def open_record(
    record: ConsumerRecord, handles: Callable[[str], bool], *, one_pass: bool = False
) -> tuple[Envelope, Event | None]:
    """The envelope and, when this consumer handles its type, the validated event; DeadLetter if unusable.

    With `one_pass`, a current, known event is validated in one pass (contracts' `open_json`); its
    envelope's `data` is then the event model. Whatever that pass refuses is opened the two-step way
    below, which gives the precise dead-letter reason.
    """
    if one_pass:
        with contextlib.suppress(Exception):  # anything it refuses is opened again below, reason and all
            envelope, event = open_json(record.value or b"")
            return (envelope, event) if handles(envelope.event_type) else (envelope, None)
    try:
        envelope = Envelope.model_validate_json(record.value or b"")
    except ValidationError as error:
        raise DeadLetter(f"not a valid envelope: {describe(error)}", "InvalidEnvelope") from error
    if not handles(envelope.event_type):
        if envelope.event_type not in EVENT_TYPES:  # not ours to skip: a type this build does not know at all
            raise DeadLetter(f"unknown event type: {envelope.event_type[:100]!r}", "UnknownEventType")
        return envelope, None  # another consumer's event type on a shared topic
    try:
        return envelope, envelope.open()
    except UnknownEventType as error:
        raise DeadLetter(f"unknown event type or version: {error}", "UnknownEventType") from error
    except ValidationError as error:
        raise DeadLetter(
            f"{envelope.event_type} v{envelope.schema_version} data invalid: {describe(error)}", "InvalidEvent"
        ) from error
    except Exception as error:  # an upcaster that fails on an old message: that message is poison, not a bug loop
        raise DeadLetter(
            f"{envelope.event_type} v{envelope.schema_version} could not be upcast: {type(error).__name__}",
            "UpcastFailed",
        ) from error


def describe(error: ValidationError) -> str:
    """Field locations and messages only: input values could carry personal data."""
    return json.dumps(
        [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in error.errors(include_input=False)][:10]
    )


def utf8(value: bytes | None) -> bool:
    """Whether a header value is text: FastStream's parsers decode every header as UTF-8."""
    try:
        (value or b"").decode()
    except UnicodeDecodeError:
        return False
    return True


def readable(record: ConsumerRecord) -> ConsumerRecord:
    """The record without the header values that are not UTF-8 (the event is in the value, never a header)."""
    if all(utf8(v) for _, v in (record.headers or ())):
        return record
    return dataclasses.replace(record, headers=[(k, v) for k, v in record.headers if utf8(v)])


async def apply_with_retries(
    apply: Callable[[], Awaitable[T]], *, attempts: int, base_seconds: float, group_id: str, what: str
) -> T:
    """What `apply` (one transaction) returns; DeadLetter once it is not worth trying again.

    A failure that would fail every event alike (the database away, full, read-only, timing out) is waited
    out for as long as it takes and is no attempt; a `Rejected` is dead-lettered at once; any other failure
    is tried `attempts` times in all. `what` names the event or batch in the log.
    """
    waits, retries = Backoff(2 * base_seconds, 30.0), Backoff(2 * base_seconds, 30.0)
    attempt = 0
    while True:
        try:
            return await apply()
        except Rejected as error:
            raise DeadLetter(f"rejected by {group_id}: {error}", "Rejected") from error
        except Exception as error:
            if waits_out(error):  # the database, not this event: wait, however long, and count nothing
                delay = waits.next()
                log.warning("database unavailable applying %s, retry in %.1fs: %r", what, delay, error)
                await asyncio.sleep(delay)
                continue
            attempt += 1
            if attempt >= attempts:
                raise DeadLetter(
                    f"handler failed {attempt} times: {type(error).__name__}: {error}", type(error).__name__
                ) from error
            log.exception("applying %s failed (attempt %d)", what, attempt)
            await asyncio.sleep(retries.next())


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
    try:
        await dlq.send_and_wait(dlq_topic(record.topic), value=record.value, key=record.key, headers=headers)
    except TOO_LARGE:
        # A record near the size limit plus these headers can never be dead-lettered whole, and retrying would
        # hold the partition for ever. The dead letter goes without the value: the record itself stays on its
        # topic, where the dlq-source-* headers point (an operator reads it there).
        reason = b"value omitted, too large: " + dead.reason.encode()[:4000]
        omitted = [(k, reason if k == "dlq-reason" else v) for k, v in headers] + [("dlq-value-omitted", b"too large")]
        await dlq.send_and_wait(dlq_topic(record.topic), value=None, key=record.key, headers=omitted)
    metrics.DEAD_LETTERS.labels(service, record.topic).inc()


class DeadLetterProducer:
    """A consumer's producer of dead letters (acks=all, idempotent), started on first use."""

    def __init__(self, kafka: KafkaConnection, service: str, group_id: str) -> None:
        self.kafka, self.service, self.group_id = kafka, service, group_id
        self.producer: Any = None

    async def started(self) -> Any:
        if self.producer is None:
            self.producer = new_producer(self.kafka, f"{self.service}-dlq")
            await self.producer.start()
        return self.producer

    async def send_until_sent(self, record: ConsumerRecord, dead: DeadLetter, set_error: Callable[[str], None]) -> None:
        """Send the dead letter, retried with back-off until it is sent: the offset is committed only after."""
        backoff = Backoff()
        while True:
            try:
                await send_dead_letter(await self.started(), record, dead, self.group_id, self.service)
                return
            except Exception as error:
                set_error(repr(error))
                delay = backoff.next()
                log.warning(
                    "dead letter of %s[%d]@%d not sent: %r; retrying in %.1fs",
                    record.topic,
                    record.partition,
                    record.offset,
                    error,
                    delay,
                )
                await self.close()
                await asyncio.sleep(delay)

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
