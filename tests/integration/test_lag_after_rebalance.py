"""A pod that loses a partition in a rebalance stops showing its lag (zorgstroom_runtime.lag.LagLabels): else it
would show the last figure it saw for ever, and a lag alert could fire on a partition nobody there reads. Real
Kafka and PostgreSQL; the two members of one group carry different service names, so each one's series shows."""

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from tests.integration.test_delivery import message, registered_envelope
from tests.integration.test_rebalance import Hold, Member, assigned, batched, group_schema, per_event, running
from tests.support.kafka import eventually, produce
from tests.support.stack import Namespace
from zorgstroom_runtime.kafka import ensure_topics

FIRST, JOINER = "lag-zz-first", "lag-aa-joiner"  # round robin over the sorted members: the joiner takes partition 0


def lag(service: str, tp: TopicPartition) -> float | None:
    labels = {"service": service, "topic": tp.topic, "partition": str(tp.partition)}
    return REGISTRY.get_sample_value("zorgstroom_consumer_lag", labels)


async def _now(value: object) -> object:
    return value


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", [per_event, batched], ids=["per-event", "batch"])
async def test_a_partition_that_moves_to_another_member_takes_its_lag_figure_along(
    ns: Namespace, tmp_path: Path, kind: Callable[..., Callable[[str], Member]]
) -> None:
    topic = ns.topic("lag-rebalance.v1")
    await ensure_topics(ns.infra.kafka_bootstrap, [topic], partitions=2)
    both = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    records: list[tuple[bytes | None, bytes, list[Any]]] = [
        (f"key-{i}".encode(), message(registered_envelope())[1], []) for i in range(40)
    ]
    await produce(ns.infra.kafka_bootstrap, topic, records)
    async with group_schema(ns, tmp_path) as (pool, schema):
        member = kind(ns, pool, schema, topic, f"lag-{uuid.uuid4()}", Hold())
        first, joiner = member(FIRST), member(JOINER)
        async with running(first):
            await eventually(
                lambda: _now([lag(FIRST, tp) for tp in both]), until=lambda seen: None not in seen, timeout=60
            )
            async with running(joiner):
                await eventually(lambda: _now(assigned(joiner)), until=lambda tps: tps == {both[0]}, timeout=60)
                await eventually(lambda: _now(assigned(first)), until=lambda tps: tps == {both[1]}, timeout=60)
                assert lag(FIRST, both[0]) is None  # moved away: no figure left behind
                assert lag(FIRST, both[1]) is not None  # kept: its series goes on without a gap
