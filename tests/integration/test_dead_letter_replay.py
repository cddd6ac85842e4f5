"""Operators list dead letters by reason and replay them once the cause is fixed; nothing is lost, and a
replay sends only what the topic's own producer once wrote: a dead letter is a pointer to its original
(whoever may write a `.dlq` twin chose its bytes, key and headers), never where a header says."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from tests.integration.test_delivery import registered_envelope
from tests.support.kafka import eventually, produce, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts import Envelope, provider_topic
from zorgstroom_ops import dead_letters
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_runtime.delivery import DeadLetter, send_dead_letter
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, partitions_of, project_topics

Message = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def as_published(envelope: Envelope, *, key: bytes | None = None) -> Message:
    """An envelope as the outbox relay publishes it: keyed by its client_ref, its type in a header."""
    headers = [("event-type", envelope.event_type.encode()), ("traceparent", b"00-" + uuid.uuid4().hex.encode())]
    return key or envelope.data["client_ref"].encode(), envelope.model_dump_json().encode(), headers


async def published(ns: Namespace, topic: str, messages: list[Message]) -> list[ConsumerRecord]:
    """The messages on `topic`, as read back (with their partitions and offsets), in the order given."""
    await produce(ns.infra.kafka_bootstrap, topic, messages)
    records = {r.value: r for r in await read_topic(ns.infra.kafka_bootstrap, topic, at_least=len(messages))}
    return [records[value] for _, value, _ in messages]


async def dead_lettered(ns: Namespace, records: list[ConsumerRecord], error_type: str = "HandlerFailed") -> None:
    """What a consumer that gave up on these records writes: the runtime's own dead letters."""
    producer = AIOKafkaProducer(bootstrap_servers=ns.infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for record in records:
            await send_dead_letter(producer, record, DeadLetter("an earlier bug", error_type), "reporting", "reporting")
    finally:
        await producer.stop()


async def read_past(ns: Namespace, group: str, topic: str) -> None:
    """Commit `group`'s offsets at the end of `topic`: its consumer took those messages and gave up on them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=ns.infra.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        found = await partitions_of(KafkaConnection(ns.infra.kafka_bootstrap), [topic])
        partitions = [TopicPartition(topic, p) for p in found[topic]]
        consumer.assign(partitions)
        await consumer.commit(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


def forged_headers(
    source: str, partition: int | None, offset: int | None, event_type: bytes = b"ClientRegistered"
) -> list[tuple[str, bytes]]:
    """The headers a principal that may write the `.dlq` twin can put on a dead letter of its own making."""
    pointer = [] if offset is None else [("dlq-source-partition", str(partition).encode()),
                                         ("dlq-source-offset", str(offset).encode())]  # fmt: skip
    return [("event-type", event_type), ("dlq-source-topic", source.encode()), ("dlq-error-type", b"HandlerFailed"),
            *pointer]  # fmt: skip


def forged_from(envelope: Envelope, **changes: str) -> bytes:
    """A valid envelope of the same client and type with other data: what a forger wants published."""
    forged = json.loads(envelope.model_dump_json())
    forged["event_id"] = str(uuid.uuid4())
    forged["data"] |= changes
    return json.dumps(forged).encode()


async def test_dead_letters_are_listed_and_a_fixed_cause_is_replayed_into_the_projection(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    source = ns.topic("wmo.client-registered.v1")
    month = date.today().replace(day=1)  # reporting answers for months that have begun
    lost = [registered_envelope("0303", month.isoformat()) for _ in range(20)]  # keys spread over every partition
    originals = await published(ns, source, [as_published(e) for e in lost] + [(b"k2", b"still not json", [])])
    await read_past(ns, f"{ns.prefix}reporting", source)
    await dead_lettered(ns, originals[:-1], "HandlerFailed")
    await dead_lettered(ns, originals[-1:], "InvalidEnvelope")
    (listed,) = await dead_letters.summarise(kafka, ns.prefix)
    assert (listed.topic, listed.total) == (source + ".dlq", 21)
    assert listed.reasons == {"HandlerFailed": 20, "InvalidEnvelope": 1}

    async with running(build_reporting(ns.settings("reporting")), "reporting") as reporting:
        done = await dead_letters.replay(kafka, source + ".dlq", prefix=ns.prefix)
        assert (done.target, done.sent) == (source, 20)
        (refused,) = done.refused
        assert refused.reason.startswith("not a valid envelope or event: ") and "still not json" not in refused.reason

        async def dronten_october() -> int:
            answer = await reporting.get(
                f"/v1/municipalities/0303/flows?from={month:%Y-%m}&to={month:%Y-%m}", headers=ns.auth("dronten")
            )
            return int(answer.json()["totals"]["registrations"])

        await eventually(dronten_october, until=lambda n: n == 20)
        # The refused message stays in the .dlq; a second replay sends nothing and does not retry it.
        (still,) = await dead_letters.summarise(kafka, ns.prefix)
        assert still.total == 21
        again = await dead_letters.replay(kafka, source + ".dlq", prefix=ns.prefix)
        assert (again.sent, again.refused) == (0, [])
        assert await dronten_october() == 20


async def _ends(kafka: KafkaConnection, topics: list[str]) -> dict[str, int]:
    """How many messages each topic has ever received (the sum of its partitions' end offsets)."""
    found = await partitions_of(kafka, topics)
    consumer = AIOKafkaConsumer(**kafka.options(), group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, ps in found.items() for p in ps])
    finally:
        await consumer.stop()
    return {t: sum(n for tp, n in ends.items() if tp.topic == t) for t in topics}


@pytest.fixture
async def provider_topic_of_ns(ns: Namespace) -> AsyncIterator[str]:
    topic = provider_topic("12345678", ns.prefix)
    await ensure_topics(ns.infra.kafka_bootstrap, [topic], partitions=1)
    yield topic
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def test_a_genuine_dead_letter_goes_back_as_its_original_and_a_forged_one_goes_nowhere(
    ns: Namespace, provider_topic_of_ns: str
) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    source = ns.topic("wmo.client-registered.v1")
    genuine, misplaced = registered_envelope("0303", "2027-10-05"), registered_envelope("0303", "2027-10-05")
    original, miskeyed = await published(
        ns, source, [as_published(genuine), as_published(registered_envelope("0303"), key=b"not-its-client-ref")]
    )
    await dead_lettered(ns, [original, miskeyed])
    p, o = original.partition, original.offset
    # Valid envelopes of the right type, written straight into the .dlq by a principal that may write it.
    stranger_key, stranger, _ = as_published(registered_envelope("0303", "2027-10-05"))
    forged = [
        # Its pointer names an offset the topic never held, or a genuine original with other bytes.
        (stranger_key, stranger, forged_headers(source, p, 1000)),
        (original.key, forged_from(genuine, responsible_municipality="0034"), forged_headers(source, p, o)),
        # The original's bytes under another key: it would break the client's per-key order.
        (b"another-client", original.value, forged_headers(source, p, o)),
        # No pointer at all, or a pointer into a provider's topic.
        (original.key, original.value, forged_headers(source, None, None)),
        (original.key, original.value, forged_headers(provider_topic_of_ns, 0, 0)),
        # A ClientRegistered whose event-type header says PlacementMade: its consumers would take it for one.
        (misplaced.data["client_ref"].encode(), misplaced.model_dump_json().encode(),
         forged_headers(source, p, o, b"PlacementMade")),
        (b"x", b'{"event_type": "ClientRegistered"}', forged_headers(source, p, o)),
    ]  # fmt: skip
    await produce(ns.infra.kafka_bootstrap, source + ".dlq", forged)
    watched = [*project_topics(ns.prefix), provider_topic_of_ns]
    before = await _ends(kafka, watched)

    done = await dead_letters.replay(kafka, source + ".dlq", prefix=ns.prefix)

    assert done.sent == 1
    invalid = [r.reason for r in done.refused if r.reason.startswith("not a valid envelope or event: ")]
    assert len(invalid) == 1
    assert sorted(r.reason for r in done.refused if r.reason not in invalid) == sorted([
        "its key is not the client_ref of its ClientRegistered",  # the genuinely dead-lettered, miskeyed original
        f"no original to send: {source}[{p}] holds no offset 1000 yet",
        f"it differs from the original at {source}[{p}]@{o}",
        "its key is not the client_ref of its ClientRegistered",
        "its dlq-source-partition and dlq-source-offset headers do not point to a record",
        f"its dlq-source-topic header names {provider_topic_of_ns}, but it lies in the dead letters of {source}",
        "its event-type header says PlacementMade, its envelope ClientRegistered",
    ])  # fmt: skip
    after = await _ends(kafka, watched)
    assert {t: after[t] - before[t] for t in watched if after[t] != before[t]} == {source: 1}
    earlier = {(original.partition, original.offset), (miskeyed.partition, miskeyed.offset)}
    on_topic = await read_topic(ns.infra.kafka_bootstrap, source, at_least=3)
    resent = [r for r in on_topic if (r.partition, r.offset) not in earlier]
    assert [(r.key, r.value, r.headers) for r in resent] == [(original.key, original.value, original.headers)]


async def test_a_dead_letter_whose_original_is_gone_is_refused_with_the_reason(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    source = ns.topic("wmo.client-registered.v1")
    (original,) = await published(ns, source, [as_published(registered_envelope("0303", "2027-10-05"))])
    await dead_lettered(ns, [original])
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.infra.kafka_bootstrap)
    await admin.start()
    try:  # what retention does to a topic's history
        await admin.delete_records({TopicPartition(source, original.partition): RecordsToDelete(original.offset + 1)})
    finally:
        await admin.close()
    before = await _ends(kafka, [source])

    done = await dead_letters.replay(kafka, source + ".dlq", prefix=ns.prefix)

    assert done.sent == 0
    assert [r.reason for r in done.refused] == [
        f"no original to send: {source}[{original.partition}]@{original.offset} is no longer in Kafka"
    ]
    assert await _ends(kafka, [source]) == before


async def test_an_event_that_belongs_on_another_topic_is_refused(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    registered = registered_envelope("0303", "2027-10-05")
    target = ns.topic("wmo.placement-made.v1")
    await produce(
        ns.infra.kafka_bootstrap,
        target + ".dlq",
        [(b"k", registered.model_dump_json().encode(), forged_headers(target, 0, 0))],
    )
    done = await dead_letters.replay(kafka, target + ".dlq", prefix=ns.prefix)
    assert done.sent == 0
    (refused,) = done.refused
    assert refused.reason == f"a ClientRegistered belongs on {ns.topic('wmo.client-registered.v1')}, not on {target}"


async def test_only_a_dlq_twin_of_a_project_topic_can_be_replayed(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    for topic in (ns.topic("wmo.client-registered.v1"), provider_topic("12345678", ns.prefix) + ".dlq"):
        with pytest.raises(ValueError, match="not the dead-letter twin"):
            await dead_letters.replay(kafka, topic, prefix=ns.prefix)
