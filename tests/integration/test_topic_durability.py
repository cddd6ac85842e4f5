"""History is durable by configuration, and a rebuild refuses a topic whose beginning is gone (issue 15)."""

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete

from tests.integration.test_reporting_numbers import registered
from tests.support.kafka import eventually, publish_events
from tests.support.stack import Namespace, running
from zorgstroom_contracts import provider_topic, topic_name
from zorgstroom_contracts.topics import Topic
from zorgstroom_ops.rebuild_command import run_rebuild
from zorgstroom_reporting.bootstrap import build
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics, topic_problems
from zorgstroom_runtime.rebuild import TruncatedHistory


async def test_every_project_topic_keeps_its_history_for_ever(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    provider = provider_topic("12345678", ns.prefix)
    await ensure_topics(kafka, [provider], partitions=3)  # as the relay creates a provider's topic
    assert await topic_problems(kafka, [*project_topics(ns.prefix), provider]) == []


async def test_a_topic_made_without_that_configuration_is_named_with_what_is_wrong(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    plain, compacted = f"{ns.prefix}plain", f"{ns.prefix}compacted"
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(plain, 1, 1, topic_configs={"retention.ms": "604800000"}),  # compose's old default: 7 days
                NewTopic(compacted, 1, 1, topic_configs={"cleanup.policy": "compact", "retention.ms": "-1"}),
            ]
        )
    finally:
        await admin.close()
    problems = await topic_problems(kafka, [plain, compacted, f"{ns.prefix}absent"])
    assert f"{plain}: retention.bytes is not set on the topic (the broker's default applies)" in problems
    assert f"{plain}: retention.ms='604800000', wanted '-1'" in problems
    assert f"{compacted}: cleanup.policy='compact', wanted 'delete'" in problems
    assert f"{ns.prefix}absent: missing" in problems
    wanting_three = KafkaConnection(ns.infra.kafka_bootstrap, replication=3)
    assert f"{plain}: 1 replicas, wanted 3" in await topic_problems(wanting_three, [plain])


@pytest.mark.timeout(120)
async def test_a_rebuild_refuses_a_topic_whose_history_was_deleted_and_leaves_the_live_tables(ns: Namespace) -> None:
    ref = "7" * 64  # one key: one partition, in order
    await publish_events(
        ns.infra.kafka_bootstrap,
        ns.prefix,
        [registered(f"i{n}", ref, f"2027-0{n}-01") for n in (1, 2, 3)],
    )
    settings = ns.settings("reporting")
    async with running(build(settings), "reporting"):
        conn = await asyncpg.connect(settings.database_url)
        try:

            async def projected() -> int:
                return int(await conn.fetchval(f'SELECT count(*) FROM "{settings.schema_name}".registrations'))

            await eventually(projected, until=lambda n: n == 3, timeout=60)
        finally:
            await conn.close()
    topic = topic_name(Topic.CLIENT_REGISTERED, ns.prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.infra.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
        ends = {}
        for tp in partitions:  # the partition that holds the three events
            from aiokafka import AIOKafkaConsumer

            consumer = AIOKafkaConsumer(bootstrap_servers=ns.infra.kafka_bootstrap)
            await consumer.start()
            try:
                ends |= await consumer.end_offsets([tp])
            finally:
                await consumer.stop()
        (holding,) = [tp for tp, end in ends.items() if end == 3]
        await admin.delete_records({holding: RecordsToDelete(before_offset=1)})  # as retention would
    finally:
        await admin.close()

    conn = await asyncpg.connect(settings.database_url)
    try:
        before = [
            tuple(r) for r in await conn.fetch(f'SELECT * FROM "{settings.schema_name}".registrations ORDER BY 1')
        ]
        with pytest.raises(TruncatedHistory, match=rf"{topic}\[{holding.partition}\] starts at 1"):
            await run_rebuild(
                settings.database_url, settings.schema_name, KafkaConnection(ns.infra.kafka_bootstrap), ns.prefix
            )
        after = [tuple(r) for r in await conn.fetch(f'SELECT * FROM "{settings.schema_name}".registrations ORDER BY 1')]
        schemas = {r[0] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
    finally:
        await conn.close()
    assert after == before and len(after) == 3  # the live projection is untouched
    assert f"{settings.schema_name}_previous" not in schemas and f"{settings.schema_name}_rebuild" not in schemas


async def test_a_production_service_refuses_to_start_on_a_topic_that_would_lose_history(ns: Namespace) -> None:
    from zorgstroom_runtime.kafka import HistoryAtRisk, refuse_topics_that_lose_history

    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    good = topic_name(Topic.CLIENT_REGISTERED, ns.prefix)
    await refuse_topics_that_lose_history(kafka, [good])  # made by ensure_topics: starts
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{ns.prefix}week", 1, 1, topic_configs={"retention.ms": "604800000"})])
    finally:
        await admin.close()
    with pytest.raises(HistoryAtRisk, match=rf"{ns.prefix}week: retention.ms='604800000', wanted '-1'"):
        await refuse_topics_that_lose_history(kafka, [good, f"{ns.prefix}week"])


async def test_topics_made_before_are_set_to_keep_history_keeping_their_own_settings(ns: Namespace) -> None:
    from zorgstroom_runtime.kafka import apply_topic_config

    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    old = f"{ns.prefix}made-before"
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(old, 1, 1, topic_configs={"retention.ms": "604800000", "max.message.bytes": "2000000"})]
        )
    finally:
        await admin.close()
    assert await topic_problems(kafka, [old]) != []
    assert await apply_topic_config(kafka, [old, f"{ns.prefix}never-made"]) == [old]  # a missing one is not made
    assert await topic_problems(kafka, [old]) == []
    assert f"{ns.prefix}never-made: missing" in await topic_problems(kafka, [f"{ns.prefix}never-made"])
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.infra.kafka_bootstrap)
    await admin.start()
    try:
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        (answer,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, old)])
        settings = {e[0]: e[1] for e in answer.resources[0][4]}
    finally:
        await admin.close()
    assert settings["max.message.bytes"] == "2000000"  # its own setting survived
