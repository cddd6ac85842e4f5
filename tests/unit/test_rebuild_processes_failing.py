"""A rebuild's replay processes that fail make the rebuild fail, loudly and with where it happened."""

import pytest
from aiokafka import TopicPartition

from zorgstroom_reporting.projections.writer import ReportingProjection
from zorgstroom_runtime import rebuild
from zorgstroom_runtime.kafka import KafkaConnection


class _ParkedConsumer:
    """The parent's consumer, which only pauses and seeks while the processes replay."""

    def pause(self, *partitions: TopicPartition) -> None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...


@pytest.mark.timeout(60)
async def test_replay_processes_that_cannot_reach_the_database_fail_the_rebuild_with_their_reason() -> None:
    projection = ReportingProjection().for_bulk_replay()
    replay = rebuild._Replay(_ParkedConsumer(), projection, 100)  # type: ignore[arg-type]
    unreachable = "postgresql://nobody@127.0.0.1:1/nothing"  # nothing listens on port 1
    shares = [
        rebuild._Share(
            unreachable, "SELECT 1", projection, KafkaConnection("127.0.0.1:1"), 100, {TopicPartition("t", i): 5}
        )
        for i in range(2)
    ]
    with pytest.raises(RuntimeError, match="replay process failed") as failed:
        await rebuild._in_processes(replay, shares, lambda done, total: None, 10)
    assert "Traceback" in str(failed.value)  # where it happened, not only its type
    assert replay.records == 0  # nothing counted as replayed: the switch never runs
