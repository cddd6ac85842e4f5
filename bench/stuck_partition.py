"""Benchmark: what one poison event costs the other partitions of a consumer.

One poll of 600 events spread over six partitions goes through reporting's batch consumer
(zorgstroom_runtime.batch.BatchConsumer.handle) with its default retry policy, against a projection
that cannot apply one event (as a constraint violation would). Measured beside the same poll without
the poison event, in the same run: the difference is how long the other 599 events, of every partition,
waited. A message that cannot even be opened is dead-lettered before the batch and costs nothing.
No Kafka or PostgreSQL: the projection and the dead-letter producer are in memory, the sleeps are real.
"""

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.test_batch_consumer import DeadLetters, FailsOn, batch_consumer, record, waitlisted  # noqa: E402
from zorgstroom_runtime.settings import ServiceSettings  # noqa: E402


async def one_poll(poison: str | None) -> tuple[float, int]:
    projection = FailsOn(poison_ref=poison or "-")
    attempts = ServiceSettings.model_fields["consumer_max_attempts"].default
    consumer = batch_consumer(projection, max_attempts=attempts)
    refs = "0123456789abcde"  # the failing event is the only one of client "f"
    poll = [record(i % 6, i, waitlisted(refs[i % 15] if i != 300 else (poison or "0"))) for i in range(600)]
    started = time.perf_counter()
    await consumer.handle(poll, DeadLetters())  # type: ignore[arg-type]
    return time.perf_counter() - started, len(projection.committed)


def main() -> None:
    clean, applied_clean = asyncio.run(one_poll(None))
    stuck, applied_stuck = asyncio.run(one_poll("f"))
    print("one poll of 600 events over 6 partitions through the batch consumer (default retry policy)")
    print(f"  clean poll:                 {clean * 1000:8.1f} ms, {applied_clean} applied")
    print(f"  with one failing event:     {stuck * 1000:8.1f} ms, {applied_stuck} applied, 1 dead-lettered")
    print(f"  the other events waited:    {(stuck - clean):8.2f} s ({stuck / clean:,.0f}x the clean poll)")


if __name__ == "__main__":
    main()
