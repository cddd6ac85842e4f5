"""Operators list dead letters by reason and replay them once the cause is fixed; nothing is lost, and a
replay sends a message only back to the topic its `.dlq` twin belongs to, never where a header says."""

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.test_delivery import registered_envelope
from tests.support.kafka import eventually, produce, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts import provider_topic
from zorgstroom_ops import dead_letters
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, partitions_of, project_topics


def dead_letter_headers(
    source: str, error_type: str, event_type: bytes = b"ClientRegistered"
) -> list[tuple[str, bytes]]:
    return [
        ("event-type", event_type),
        ("dlq-source-topic", source.encode()),
        ("dlq-error-type", error_type.encode()),
        ("dlq-reason", b"an earlier bug"),
    ]


async def test_dead_letters_are_listed_and_a_fixed_cause_is_replayed_into_the_projection(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    source = ns.topic("wmo.client-registered.v1")
    lost = [registered_envelope("0303", "2027-10-05") for _ in range(20)]  # keys spread over every partition
    await produce(
        ns.infra.kafka_bootstrap,
        source + ".dlq",
        [(e.data["client_ref"].encode(), e.model_dump_json().encode(), dead_letter_headers(source, "HandlerFailed"))
         for e in lost]
        + [(b"k2", b"still not json", dead_letter_headers(source, "InvalidEnvelope"))],
    )  # fmt: skip
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
                "/v1/municipalities/0303/flows?from=2027-10&to=2027-10", headers=ns.auth("dronten")
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


async def test_a_forged_or_misplaced_dead_letter_goes_nowhere_and_the_replay_says_why(
    ns: Namespace, provider_topic_of_ns: str
) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    source = ns.topic("wmo.client-registered.v1")
    genuine, forged, misplaced = (registered_envelope("0303", "2027-10-05") for _ in range(3))
    await produce(
        ns.infra.kafka_bootstrap,
        source + ".dlq",
        [
            (b"g", genuine.model_dump_json().encode(), dead_letter_headers(source, "HandlerFailed")),
            # A principal that may write this .dlq names a provider's topic as the message's source.
            (b"f", forged.model_dump_json().encode(), dead_letter_headers(provider_topic_of_ns, "HandlerFailed")),
            # A ClientRegistered whose event-type header says PlacementMade: its consumers would take it for one.
            (
                b"m",
                misplaced.model_dump_json().encode(),
                dead_letter_headers(source, "HandlerFailed", b"PlacementMade"),
            ),
            (b"x", b'{"event_type": "ClientRegistered"}', dead_letter_headers(source, "InvalidEnvelope")),
        ],
    )
    watched = [*project_topics(ns.prefix), provider_topic_of_ns]
    before = await _ends(kafka, watched)

    done = await dead_letters.replay(kafka, source + ".dlq", prefix=ns.prefix)

    assert done.sent == 1
    reasons = sorted(r.reason for r in done.refused)
    assert len(reasons) == 3
    assert (
        f"its dlq-source-topic header names {provider_topic_of_ns}, but it lies in the dead letters of {source}"
        in reasons
    )
    assert "its event-type header says PlacementMade, its envelope ClientRegistered" in reasons
    assert any(r.startswith("not a valid envelope or event") for r in reasons)
    after = await _ends(kafka, watched)
    assert {t: after[t] - before[t] for t in watched if after[t] != before[t]} == {source: 1}
    (sent,) = await read_topic(ns.infra.kafka_bootstrap, source)
    assert sent.key == b"g" and ("dlq-source-topic", source.encode()) not in (sent.headers or ())


async def test_an_event_that_belongs_on_another_topic_is_refused(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    registered = registered_envelope("0303", "2027-10-05")
    wrong_dlq = ns.topic("wmo.placement-made.v1") + ".dlq"
    await produce(ns.infra.kafka_bootstrap, wrong_dlq, [(b"k", registered.model_dump_json().encode(), [])])
    done = await dead_letters.replay(kafka, wrong_dlq, prefix=ns.prefix)
    assert done.sent == 0
    (refused,) = done.refused
    assert (
        refused.reason
        == f"a ClientRegistered belongs on {ns.topic('wmo.client-registered.v1')}, not on {wrong_dlq[:-4]}"
    )


async def test_only_a_dlq_twin_of_a_project_topic_can_be_replayed(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    for topic in (ns.topic("wmo.client-registered.v1"), provider_topic("12345678", ns.prefix) + ".dlq"):
        with pytest.raises(ValueError, match="not the dead-letter twin"):
            await dead_letters.replay(kafka, topic, prefix=ns.prefix)
