"""The lag a stuck consumer shows: from what the group has committed, not from what it last applied."""

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from zorgstroom_runtime import metrics
from zorgstroom_runtime.lag import report_lag


async def test_a_consumer_that_applies_nothing_shows_its_lag_growing() -> None:
    tp = TopicPartition("wmo.client-registered.v1", 0)
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")  # never started: its answers are set here
    ends = iter([10, 14, 20])
    state = {"end": 10}

    async def committed(_: TopicPartition) -> int:
        return 7  # stuck: the group's offset does not move

    consumer.assignment = lambda: {tp}  # type: ignore[method-assign]
    consumer.highwater = lambda _: state["end"]  # type: ignore[method-assign]
    consumer.committed = committed  # type: ignore[method-assign]
    gauge = metrics.CONSUMER_LAG.labels("lagtest", tp.topic, "0")
    task = asyncio.create_task(report_lag(lambda: consumer, "lagtest", every_seconds=0.01))
    seen = []
    for end in ends:
        state["end"] = end
        await asyncio.sleep(0.05)
        seen.append(gauge._value.get())
    task.cancel()
    assert seen == [3, 7, 13]
