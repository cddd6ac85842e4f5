"""Dead letters for operators: what lies in the `.dlq` twins and why, and sending them back.

Replay republishes each dead letter's original key and value (and headers other than the dlq-*
ones) to the topic it came from, after the cause was fixed. Consumers deduplicate on event_id, so
replaying a message twice applies it once; one still invalid is dead-lettered again with its reason.
"""

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from zorgstroom_runtime.kafka import KafkaConnection, new_producer, partitions_of, project_topics

REPLAY_GROUP = "zorgstroom-dlq-replay"


@dataclass
class DeadLetterTopic:
    topic: str
    total: int
    reasons: Counter[str] = field(default_factory=Counter)


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
    for topic in (t for t in project_topics(prefix) if t.endswith(".dlq")):
        records = await _read_all(kafka, topic)
        if records:
            found.append(DeadLetterTopic(topic, len(records), Counter(_header(r, "dlq-error-type") for r in records)))
    return found


async def replay(kafka: KafkaConnection, dlq_topic: str, *, join_timeout: float = 60.0) -> int:
    """Send what is in `dlq_topic` back to its source topics, up to its end when the replay starts.

    Progress is committed in a consumer group of that topic's own, so a second replay sends only
    what was dead-lettered since.
    """
    consumer = AIOKafkaConsumer(
        dlq_topic,
        **kafka.options(),
        group_id=f"{REPLAY_GROUP}.{dlq_topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = new_producer(kafka, "zorgstroom-dlq-replay")
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        partitions = await _assignment(consumer, join_timeout)
        ends = await consumer.end_offsets(list(partitions))
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    headers = [(k, v) for k, v in record.headers or () if not k.startswith("dlq-")]
                    await producer.send_and_wait(
                        _header(record, "dlq-source-topic"), value=record.value, key=record.key, headers=headers
                    )
                    replayed += 1
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed


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
