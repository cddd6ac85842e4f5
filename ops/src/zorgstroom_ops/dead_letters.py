"""Dead letters for operators: what lies in the `.dlq` twins and why, and sending them back.

Replay (redrive) republishes a dead letter's original key and value (and headers other than the dlq-*
ones) to the one topic its `.dlq` twin belongs to, found from the twin's name: never from a header,
which whoever wrote the dead letter chose. It sends only an envelope that parses and holds an event
that belongs on that topic; anything else is refused with the reason and stays in the `.dlq` topic.
Consumers deduplicate on event_id, so replaying a message twice applies it once.
"""

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from zorgstroom_contracts import EVENT_TYPES, TOPICS, topic_name
from zorgstroom_contracts.envelope import open_json
from zorgstroom_contracts.topics import DLQ_SUFFIX
from zorgstroom_runtime.acl import REDRIVE_GROUP
from zorgstroom_runtime.kafka import KafkaConnection, new_producer, partitions_of, project_topics


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
    """Why this dead letter may not go back to `target`, or None when it may."""
    claimed = _header(record, "dlq-source-topic")
    if claimed and claimed != target:
        return f"its dlq-source-topic header names {claimed}, but it lies in the dead letters of {target}"
    try:
        envelope, _ = open_json(record.value or b"")
    except ValidationError as error:
        return f"not a valid envelope or event: {_describe(error)}"
    except Exception as error:  # an unknown event type or version, or an upcaster that fails
        return f"not an event this build knows: {type(error).__name__}"
    home = topic_name(EVENT_TYPES[envelope.event_type].topic, prefix)
    if home != target:
        return f"a {envelope.event_type} belongs on {home}, not on {target}"
    named = _header(record, "event-type")
    if named and named != envelope.event_type:  # consumers select their events by this header
        return f"its event-type header says {named}, its envelope {envelope.event_type}"
    return None


def _describe(error: ValidationError) -> str:
    """Field locations and messages only: input values could carry personal data."""
    return json.dumps([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)][:5])


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
    producer = new_producer(kafka, REDRIVE_GROUP)
    await consumer.start()
    await producer.start()
    try:
        partitions = await _assignment(consumer, join_timeout)
        ends = await consumer.end_offsets(list(partitions))
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                await _redrive(producer, records, result, prefix)
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await producer.stop()
        await consumer.stop()
    return result


async def _redrive(producer: AIOKafkaProducer, records: list[ConsumerRecord], result: Redrive, prefix: str) -> None:
    for record in records:
        reason = refusal(record, result.target, prefix)
        if reason:
            result.refused.append(Refusal(record.partition, record.offset, reason))
            continue
        headers = [(k, v) for k, v in record.headers or () if not k.startswith("dlq-")]
        await producer.send_and_wait(result.target, value=record.value, key=record.key, headers=headers)
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
