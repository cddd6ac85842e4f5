"""The outbox relay: publishes committed outbox rows to Kafka, in id order, and marks them published.

One relay per schema is active (a PostgreSQL advisory lock). It publishes with an idempotent, acks=all
producer, with each row's trace context restored, and marks rows published only after Kafka has
acknowledged them: a crash between the two publishes a row twice at worst, never loses one. Per key, id
order is commit order (the unit of work writes a key's rows under a lock at commit: outbox.py).
"""

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry import trace

from zorgstroom_runtime import metrics
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, new_producer, project_topics
from zorgstroom_runtime.outbox import Outbox
from zorgstroom_runtime.telemetry import context_from_carrier, current_trace_carrier, tracer

log = logging.getLogger(__name__)
DEFAULT_RETENTION = timedelta(days=7)


class OutboxRelay:
    """Publishes the outbox to Kafka. One relay per schema is active (a Postgres advisory lock)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        kafka: KafkaConnection,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.pool, self.outbox, self.kafka = pool, outbox, kafka
        self.batch_size, self.poll_seconds, self.retention = batch_size, poll_seconds, retention
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._published_since_error = False
        # Contract topics exist before services start; others (a provider's own) are made on first use.
        self._known_topics = set(project_topics(outbox.topic_prefix))

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self.pool.acquire() as lock_conn:
                    await self._hold_leadership(lock_conn)
                    await lock_conn.add_listener(self.outbox.channel, self._on_notify)
                    try:
                        await self._publish_until_cancelled()
                    finally:
                        await lock_conn.remove_listener(self.outbox.channel, self._on_notify)
            except asyncio.CancelledError:
                await self._close_producer()
                raise
            except Exception as error:  # database or Kafka away: nothing is lost, try again
                if self._published_since_error:  # it had been working: a new outage starts from short waits
                    backoff, self._published_since_error = 0.5, False
                log.warning("outbox relay paused: %r; retrying in %.1fs", error, backoff)
                await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _hold_leadership(self, conn: asyncpg.Connection) -> None:
        while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{self.outbox.schema}"):
            await asyncio.sleep(2)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _publish_until_cancelled(self) -> None:
        next_purge = 0.0
        while True:
            if time.monotonic() >= next_purge:
                await self.purge_published()
                next_purge = time.monotonic() + min(3600.0, self.retention.total_seconds() / 2 or 60.0)
            # Cleared before reading the outbox: a commit notified while this batch is being published
            # wakes the next turn at once instead of being lost until the next poll.
            self._wake.clear()
            published = await self.publish_batch()
            if published < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def purge_published(self) -> int:
        """Delete rows published longer ago than the retention; unpublished rows are never touched."""
        deleted = await self.pool.execute(
            "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1::interval",
            self.retention,
        )
        return int(deleted.split()[-1])

    async def publish_batch(self) -> int:
        rows = await self.pool.fetch(
            "SELECT id, topic, message_key, event_type, schema_version, payload, trace_context,"
            " extract(epoch FROM now() - created_at) AS age FROM outbox WHERE published_at IS NULL"
            " ORDER BY id LIMIT $1",
            self.batch_size,
        )
        # Set before publishing, so that with Kafka away each retry shows the oldest row growing older.
        metrics.OUTBOX_OLDEST_AGE.labels(self.outbox.producer).set(float(rows[0]["age"]) if rows else 0.0)
        if not rows:
            metrics.OUTBOX_BACKLOG.labels(self.outbox.producer).set(0)
            return 0
        await self._ensure_topics({row["topic"] for row in rows})
        producer = await self._ensure_producer()
        deliveries = [await self._send(producer, row) for row in rows]
        await asyncio.gather(*deliveries)
        await self.pool.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
        self._published_since_error = True
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self.outbox.producer, row["topic"]).inc()
        # A short batch drained what there was; only after a full one is the rest worth counting.
        full = len(rows) == self.batch_size
        backlog = await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") if full else 0
        metrics.OUTBOX_BACKLOG.labels(self.outbox.producer).set(backlog)
        if not full:
            metrics.OUTBOX_OLDEST_AGE.labels(self.outbox.producer).set(0.0)
        return len(rows)

    async def _send(self, producer: AIOKafkaProducer, row: asyncpg.Record) -> "asyncio.Future[Any]":
        parent = context_from_carrier(row["trace_context"] or {})
        with tracer().start_as_current_span(
            f"{row['topic']} publish",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row["topic"],
                "messaging.operation.type": "send",
                "zorgstroom.event_type": row["event_type"],
            },
        ):
            headers = [
                *[(k, v.encode("latin-1")) for k, v in current_trace_carrier().items()],
                ("event-type", row["event_type"].encode()),
                ("schema-version", str(row["schema_version"]).encode()),
                ("content-type", b"application/json"),
            ]
            delivery: asyncio.Future[Any] = await producer.send(
                row["topic"], value=row["payload"].encode(), key=row["message_key"].encode(), headers=headers
            )
            return delivery

    async def _ensure_topics(self, topics: set[str]) -> None:
        """Create topics outside the contract's fixed list (wmo.provider.<agb>.v1) before the first send:
        the broker does not create topics on its own, and a send to a missing topic would stall the relay."""
        missing = sorted(topics - self._known_topics)
        if missing:
            created = await ensure_topics(self.kafka, missing, partitions=3, attempts=3)
            if created:
                log.info("created topics %s", created)
            self._known_topics.update(missing)

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = new_producer(self.kafka, f"{self.outbox.producer}-relay")
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
