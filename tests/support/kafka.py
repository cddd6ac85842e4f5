"""Reading and writing topics with a plain aiokafka client, not the project's own code."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from zorgstroom_runtime.kafka import KafkaConnection, partitions_of

if TYPE_CHECKING:
    from zorgstroom_contracts import Envelope
    from zorgstroom_contracts.events import Event


async def read_topic(bootstrap: str, topic: str, *, at_least: int = 1, timeout: float = 30.0) -> list[ConsumerRecord]:
    """Every record on `topic` from the beginning, once at least `at_least` have arrived (or the timeout)."""
    partitions = await eventually(lambda: partitions_of(KafkaConnection(bootstrap), [topic]), timeout=10)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions[topic]]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < at_least and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes, list]]) -> None:
    """Send (key, value, headers) triples, in order, and wait for each acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def eventually(check, *, until=bool, timeout: float = 30.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll an async check until `until(value)` holds (by default: truthy); returns the value, or fails
    with the last one."""
    deadline, value = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        value = await check()
        if until(value):
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")


async def delete_topics(bootstrap: str, names: list[str], *, prefix: str | None = None) -> None:
    """Delete the named topics, and with `prefix` every other topic that starts with it (providers' own)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if prefix:
            names = sorted(set(names) | {t for t in await admin.list_topics() if t.startswith(prefix)})
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def publish_events(bootstrap: str, prefix: str, events: "list[Event]") -> "list[Envelope]":
    """Each event in its envelope on its contract topic (keyed as the services key it), in order."""
    from zorgstroom_contracts import Envelope, spec_for, topic_name

    envelopes = []
    for event in events:
        spec = spec_for(event)
        envelope = Envelope.wrap(event, producer="test", region="flevoland")
        await produce(
            bootstrap,
            topic_name(spec.topic, prefix),
            [(spec.key_of(envelope.data).encode(), envelope.model_dump_json().encode(), [])],
        )
        envelopes.append(envelope)
    return envelopes


@contextlib.asynccontextmanager
async def in_background(run: Callable[[], Coroutine[object, object, object]]) -> AsyncIterator[None]:
    """A relay's or a consumer's run loop as a task for the block's duration; cancelled when the block ends."""
    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
