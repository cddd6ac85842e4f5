"""Dead letters for operators: what lies in the `.dlq` twins and why, and sending them back.

A dead letter is only a pointer. Whoever may write a `.dlq` twin (every consumer of its topic) chose
its bytes, key and headers, so replay (redrive) trusts none of them: it reads the original record
from the topic the twin belongs to (found from the twin's name) at the dead letter's
dlq-source-partition and dlq-source-offset, and republishes that record's key, value and headers
only when its key and value are the dead letter's. The envelope must parse, hold an event that
belongs on that topic, and be keyed by that event's key. Anything else is refused with the reason and
stays in the `.dlq` topic. So a replay can only send again what the topic's own producer once wrote;
consumers deduplicate on event_id, so replaying a message twice applies it once.
"""

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError
from pydantic import ValidationError

from zorgstroom_contracts import EVENT_TYPES, TOPICS, topic_name
from zorgstroom_contracts.envelope import open_json
from zorgstroom_contracts.topics import DLQ_SUFFIX
from zorgstroom_runtime.acl import REDRIVE_GROUP
from zorgstroom_runtime.kafka import KafkaConnection, new_producer, partitions_of, project_topics

# How long a replay waits for one original record before it refuses its dead letter.
ORIGINAL_TIMEOUT = 10.0


@dataclass
class DeadLetterTopic:
    topic: str
    total: int
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Refusal:
    """A dead letter the replay did not send, where it lies, and why."""

    partition: int
    offset: int
    reason: str


@dataclass
class Redrive:
    """What one replay did: how many it sent back, and the ones it refused."""

    target: str
    sent: int = 0
    refused: list[Refusal] = field(default_factory=list)


def _header(record: ConsumerRecord, name: str) -> str:
    value: bytes = dict(record.headers or ()).get(name, b"")
    return value.decode(errors="replace")


async def _read_all(kafka: KafkaConnection, topic: str) -> list[ConsumerRecord]:
    partitions = [TopicPartition(topic, p) for p in (await partitions_of(kafka, [topic])).get(topic, [])]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(**kafka.options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def summarise(kafka: KafkaConnection, prefix: str = "") -> list[DeadLetterTopic]:
    """Every `.dlq` twin that holds messages, with how many per reason type."""
    found = []
    for topic in (t for t in project_topics(prefix) if t.endswith(DLQ_SUFFIX)):
        records = await _read_all(kafka, topic)
        if records:
            found.append(DeadLetterTopic(topic, len(records), Counter(_header(r, "dlq-error-type") for r in records)))
    return found


def redrive_target(dlq_topic: str, prefix: str = "") -> str:
    """The topic a `.dlq` twin belongs to, from its name alone; ValueError for a topic that is no twin."""
    target = dlq_topic.removesuffix(DLQ_SUFFIX)
    if target == dlq_topic or target not in [topic_name(t, prefix) for t in TOPICS]:
        raise ValueError(f"{dlq_topic} is not the dead-letter twin of one of the project's topics")
    return target


def refusal(record: ConsumerRecord, target: str, prefix: str = "") -> str | None:
    """Why this dead letter may not go back to `target` on what it holds alone, or None when it may.

    Whether the original it points to holds the same key and value is `replay`'s check, against Kafka.
    """
    claimed = _header(record, "dlq-source-topic")
    if claimed != target:
        named = f"names {claimed}" if claimed else "is missing"
        return f"its dlq-source-topic header {named}, but it lies in the dead letters of {target}"
    try:
        envelope, event = open_json(record.value or b"")
    except ValidationError as error:
        return f"not a valid envelope or event: {_describe(error)}"
    except Exception as error:  # an unknown event type or version, or an upcaster that fails
        return f"not an event this build knows: {type(error).__name__}"
    spec = EVENT_TYPES[envelope.event_type]
    home = topic_name(spec.topic, prefix)
    if home != target:
        return f"a {envelope.event_type} belongs on {home}, not on {target}"
    named = _header(record, "event-type")
    if named and named != envelope.event_type:  # consumers select their events by this header
        return f"its event-type header says {named}, its envelope {envelope.event_type}"
    if record.key != spec.key_of(event.model_dump(mode="json")).encode():  # the key decides per-key order
        return f"its key is not the {spec.key_field} of its {envelope.event_type}"
    return None


def _describe(error: ValidationError) -> str:
    """Field locations and messages only: input values could carry personal data."""
    return json.dumps([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)][:5])


def _pointer(record: ConsumerRecord) -> tuple[int, int] | None:
    """The partition and offset of the original, from the dlq-source-* headers; None if they are no numbers."""
    try:
        partition, offset = int(_header(record, "dlq-source-partition")), int(_header(record, "dlq-source-offset"))
    except ValueError:
        return None
    return (partition, offset) if partition >= 0 and offset >= 0 else None


class Originals:
    """Reads the record at one partition and offset of the topic a `.dlq` twin belongs to, outside any group."""

    def __init__(self, kafka: KafkaConnection, topic: str, timeout: float = ORIGINAL_TIMEOUT) -> None:
        self.kafka, self.topic, self.timeout = kafka, topic, timeout
        # No reset: an offset that retention or compaction removed raises instead of reading another record.
        self.consumer = AIOKafkaConsumer(**kafka.options(), group_id=None, enable_auto_commit=False,
                                         auto_offset_reset="none")  # fmt: skip
        self.ends: dict[int, int] = {}

    async def start(self) -> None:
        await self.consumer.start()
        found = await partitions_of(self.kafka, [self.topic])
        partitions = [TopicPartition(self.topic, p) for p in found.get(self.topic, [])]
        self.ends = {tp.partition: end for tp, end in (await self.consumer.end_offsets(partitions)).items()}

    async def stop(self) -> None:
        await self.consumer.stop()

    async def at(self, partition: int, offset: int) -> ConsumerRecord | str:
        """The record at `offset` of `partition`, or why there is none to read there."""
        if partition not in self.ends:
            return f"{self.topic} has no partition {partition}"
        tp = TopicPartition(self.topic, partition)
        if offset >= self.ends[partition]:  # the original may have come after the replay started
            self.ends[partition] = (await self.consumer.end_offsets([tp]))[tp]
        if offset >= self.ends[partition]:
            return f"{self.topic}[{partition}] holds no offset {offset} yet"
        self.consumer.assign([tp])
        self.consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while loop.time() < deadline:
            try:
                batch = (await self.consumer.getmany(tp, timeout_ms=500, max_records=1)).get(tp, [])
            except OffsetOutOfRangeError:
                return f"{self.topic}[{partition}]@{offset} is no longer in Kafka"
            if batch and batch[0].offset == offset:
                found: ConsumerRecord = batch[0]
                return found
            if batch or await self.consumer.position(tp) >= self.ends[partition]:  # compacted away, or a marker
                return f"{self.topic}[{partition}] holds no record at {offset}"
        return f"{self.topic}[{partition}]@{offset} could not be read within {self.timeout:g}s"


async def original_of(record: ConsumerRecord, originals: Originals) -> ConsumerRecord | str:
    """The record this dead letter points to, when it holds the dead letter's key and value; else why not."""
    pointer = _pointer(record)
    if pointer is None:
        return "its dlq-source-partition and dlq-source-offset headers do not point to a record"
    original = await originals.at(*pointer)
    if isinstance(original, str):
        return f"no original to send: {original}"
    if (original.key, original.value) != (record.key, record.value):
        return f"it differs from the original at {originals.topic}[{pointer[0]}]@{pointer[1]}"
    return original


async def replay(kafka: KafkaConnection, dlq_topic: str, *, prefix: str = "", join_timeout: float = 60.0) -> Redrive:
    """Send what is in `dlq_topic` back to the topic it is the twin of, up to its end when the replay starts.

    Progress is committed in a consumer group of that topic's own, so a second replay sends only what
    was dead-lettered since; a refused dead letter stays in the `.dlq` topic and is not tried again.
    """
    result = Redrive(redrive_target(dlq_topic, prefix))
    consumer = AIOKafkaConsumer(
        dlq_topic,
        **kafka.options(),
        group_id=f"{REDRIVE_GROUP}.{dlq_topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    originals = Originals(kafka, result.target)
    producer = new_producer(kafka, REDRIVE_GROUP)
    await consumer.start()
    await originals.start()
    await producer.start()
    try:
        partitions = await _assignment(consumer, join_timeout)
        ends = await consumer.end_offsets(list(partitions))
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                await _redrive(producer, originals, records, result, prefix)
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await producer.stop()
        await originals.stop()
        await consumer.stop()
    return result


async def _redrive(
    producer: AIOKafkaProducer, originals: Originals, records: list[ConsumerRecord], result: Redrive, prefix: str
) -> None:
    for record in records:
        reason = refusal(record, result.target, prefix)
        original = reason or await original_of(record, originals)
        if isinstance(original, str):
            result.refused.append(Refusal(record.partition, record.offset, original))
            continue
        # The original's own key, value and headers: nothing the dead letter's writer chose.
        headers = list(original.headers or ())
        await producer.send_and_wait(result.target, value=original.value, key=original.key, headers=headers)
        result.sent += 1


async def _assignment(consumer: AIOKafkaConsumer, timeout: float) -> set[TopicPartition]:
    """Wait until the group has given this consumer its partitions; an empty poll proves nothing before.

    aiokafka joins the group in the background, so this waits without polling: a poll here would
    fetch records that the replay must not skip.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not consumer.assignment():
        if loop.time() > deadline:
            raise TimeoutError("the replay's consumer group did not assign partitions in time")
        await asyncio.sleep(0.1)
    partitions: set[TopicPartition] = consumer.assignment()
    return partitions
