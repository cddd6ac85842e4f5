"""Consumer lag on a timer, from the committed offsets: what the alerts need to see a stuck consumer.

A consumer that reports its lag only when a message or a poll succeeds shows a frozen figure while it is
stuck (retrying a database that is away, or reading a poll again). This task asks Kafka every few
seconds what the group has committed and how far each partition goes, whether or not anything is being
applied: the lag of a stuck consumer grows (or stays above zero), and the alerts fire. A partition that
moves to another pod in a rebalance takes its figure along: `LagLabels` drops it here (else this pod would
show the last lag it saw for ever, and a lag alert would fire on a partition nobody here reads).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from zorgstroom_runtime import metrics

log = logging.getLogger(__name__)


async def report_lag(consumer_of: Callable[[], object], service: str, every_seconds: float = 15.0) -> None:
    """Until cancelled: per assigned partition, the high watermark minus the committed offset."""
    while True:
        await asyncio.sleep(every_seconds)
        consumer = consumer_of()
        if not isinstance(consumer, AIOKafkaConsumer):
            continue  # not started yet, or FastStream's in-memory test broker
        for tp in consumer.assignment():
            with contextlib.suppress(Exception):  # a metric is never worth an error in the consume path
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue
                committed = await consumer.committed(tp)
                if committed is None:
                    committed = (await consumer.beginning_offsets([tp]))[tp]
                metrics.CONSUMER_LAG.labels(service, tp.topic, str(tp.partition)).set(max(0, highwater - committed))


class LagLabels(ConsumerRebalanceListener):  # type: ignore[misc]
    """A consumer's rebalance listener: the lag gauge of each partition revoked and not assigned again is removed.

    aiokafka revokes every partition before a rebalance and then assigns the new set, so the partitions kept
    keep their series (no gap for the alerts' `for:`) and only those gone lose it."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.revoked: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.revoked |= set(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in self.revoked - set(assigned):
            with contextlib.suppress(KeyError):  # never reported here
                metrics.CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))
        self.revoked.clear()
