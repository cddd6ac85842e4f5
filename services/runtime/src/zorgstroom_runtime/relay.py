"""The outbox relay: publishes committed outbox rows to Kafka, in id order per key, and marks them published.

One relay per schema publishes: the holder of the schema's lease, renewed in the statement that reads each
batch (relay_lease.py), so a relay that was stopped or cut off and has been replaced reads nothing more and
sends at most the batch it had read. It publishes with an idempotent, acks=all producer, with each row's
trace context restored, and marks rows published only after Kafka has acknowledged them: a crash between
the two publishes a row twice at worst, never loses one. What Kafka acknowledged is remembered until its
marking succeeds; a database error repeats the marking, never the sending. A row Kafka refuses for what it
is (larger than the broker takes, or malformed) is counted and, after `send_attempts` refusals, parked: the
rows of other keys go on, the later rows of its key wait behind it. Any other failure (no broker, no leader,
too few in-sync replicas, a timeout, no authorisation) says nothing about the row: nothing is counted, the
relay backs off and sends the rows again. Per key, id order is commit order (outbox.py), and Kafka's last
copy of each row comes after the rows before it on its key (see `_send_in_key_order`).
"""

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from opentelemetry import trace

from zorgstroom_runtime import metrics
from zorgstroom_runtime.idempotency import purge_expired
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, new_producer, project_topics
from zorgstroom_runtime.outbox import Outbox
from zorgstroom_runtime.relay_lease import RelayLease
from zorgstroom_runtime.telemetry import context_from_carrier, current_trace_carrier, tracer

log = logging.getLogger(__name__)
DEFAULT_RETENTION = timedelta(days=7)

# The next rows to send: unpublished, not parked, and not behind a parked row of their (topic, key).
NEXT_BATCH = (
    "SELECT id, topic, message_key, event_type, schema_version, payload, trace_context,"
    " extract(epoch FROM now() - created_at) AS age FROM outbox o"
    " WHERE published_at IS NULL AND parked_at IS NULL AND NOT EXISTS (SELECT FROM outbox p"
    " WHERE p.parked_at IS NOT NULL AND p.published_at IS NULL AND p.topic = o.topic"
    " AND p.message_key = o.message_key AND p.id < o.id) ORDER BY id LIMIT $3"
)
MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]) AND published_at IS NULL"
COUNT_REFUSAL = (
    "UPDATE outbox SET send_failures = send_failures + 1, last_send_error = left($2, 500),"
    " parked_at = CASE WHEN send_failures + 1 >= $3 THEN now() END WHERE id = $1 AND published_at IS NULL"
)
# The database closes the relay's connection when the process behind it is gone (its session would
# otherwise wait for the operating system's keepalive, about two hours).
KEEPALIVE = "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"
# Refused for what the record is, by the client before sending it or by the broker: this row only, and sending
# it again will not help. Everything else (retriable errors, timeouts, authorisation) is a state of Kafka.
REFUSED_RECORD = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, CorruptRecordException)


class OutboxRelay:
    """Publishes the outbox to Kafka while it holds the schema's relay lease; stands by otherwise."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        kafka: KafkaConnection,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retention: timedelta = DEFAULT_RETENTION,
        lease_seconds: float = 10.0,
        send_attempts: int = 5,
    ) -> None:
        self.pool, self.outbox, self.kafka = pool, outbox, kafka
        self.batch_size, self.poll_seconds, self.retention = batch_size, poll_seconds, retention
        self.lease, self.send_attempts = RelayLease(pool, lease_seconds), send_attempts
        self._standby_seconds = min(2.0, lease_seconds / 5)
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._acknowledged: list[int] = []  # on Kafka, not yet marked published
        self._published_since_error = False
        self._next_purge = 0.0
        # Contract topics exist before services start; others (a provider's own) are made on first use.
        self._known_topics = set(project_topics(outbox.topic_prefix))

    @property
    def leading(self) -> bool:
        return self.lease.epoch is not None

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self.pool.acquire() as listen:
                    await listen.execute(KEEPALIVE)
                    await listen.add_listener(self.outbox.channel, self._on_notify)
                    try:
                        await self._publish_until_cancelled(listen)
                    finally:
                        with contextlib.suppress(Exception):
                            await listen.remove_listener(self.outbox.channel, self._on_notify)
            except asyncio.CancelledError:
                await self._stand_down()
                raise
            except Exception as error:  # database or Kafka away: nothing is lost, try again
                if self._published_since_error:  # it had been working: a new outage starts from short waits
                    backoff, self._published_since_error = 0.5, False
                log.warning("outbox relay paused: %r; retrying in %.1fs", error, backoff)
                if isinstance(error, KafkaError):  # a database error keeps the producer (and what it sent)
                    await self._close_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _publish_until_cancelled(self, listen: asyncpg.Connection) -> None:
        while not listen.is_closed():
            if self.leading and time.monotonic() >= self._next_purge:
                await self.purge_published()
                self._next_purge = time.monotonic() + min(3600.0, self.retention.total_seconds() / 2 or 60.0)
            # Cleared before reading the outbox: a commit notified while this batch is being published
            # wakes the next turn at once instead of being lost until the next poll.
            self._wake.clear()
            fetched = await self.publish_batch()
            if not self.leading:
                await asyncio.sleep(self._standby_seconds)
            elif fetched < self.batch_size:
                # Not wait_for: on Python 3.11 it swallows a cancel that comes as the wake does, and the
                # service's shutdown then waits for this task for ever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
        raise ConnectionError("the relay's listening connection was closed")

    async def purge_published(self) -> int:
        """Delete rows published longer ago than the retention; unpublished rows are never touched."""
        deleted = await self.pool.execute(
            "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1::interval",
            self.retention,
        )
        await purge_expired(self.pool)  # Idempotency-Keys past their lifetime go with the same housekeeping
        return int(deleted.split()[-1])

    async def publish_batch(self) -> int:
        """Publish the next batch if this relay holds the lease (taking it if free); the rows it read."""
        await self._mark_acknowledged()
        if not self.leading:
            if not await self.lease.acquire():
                return 0
            log.info("outbox relay of %s leads (epoch %s)", self.outbox.schema, self.lease.epoch)
        rows = await self.lease.fetch_while_held(NEXT_BATCH, self.batch_size)
        if rows is None:
            log.warning("outbox relay of %s lost its lease to another process; standing by", self.outbox.schema)
            await self._close_producer()
            return 0
        # Set before publishing, so that with Kafka away each retry shows the oldest row growing older.
        metrics.OUTBOX_OLDEST_AGE.labels(self.outbox.producer).set(float(rows[0]["age"]) if rows else 0.0)
        if rows:
            await self._ensure_topics({row["topic"] for row in rows})
            refused = await self._send_in_key_order(await self._ensure_producer(), rows)
            await self._mark_acknowledged()
            if refused:
                await self._count_refusals(refused)
        await self._update_gauges(full=len(rows) == self.batch_size)
        return len(rows)

    async def _send_in_key_order(self, producer: AIOKafkaProducer, rows: list[asyncpg.Record]) -> dict[int, str]:
        """Send the rows in id order and remember what Kafka acknowledged; returns the rows it refused for what
        they are. Any other failure is raised, after the acknowledged rows are remembered: nothing is counted.

        Once a row of a (topic, key) is refused or fails, the later rows of that key in the batch are not sent,
        or, if sent and acknowledged all the same, not marked published: they go again after it. The rows of
        that key before it are marked as usual. (The idempotent producer does not append a partition's later
        batch after an earlier one failed, so a later row acknowledged before an earlier one's failure is not
        expected; were it to happen, a consumer keeps the first copy, so such a row would be applied early.)
        """
        refused: dict[int, str] = {}
        held: dict[tuple[str, str], int] = {}  # per key, the first row that did not reach Kafka in this batch
        sent: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = []
        failure: BaseException | None = None
        for row in rows:
            if (row["topic"], row["message_key"]) in held:  # rows come in id order: this one is later
                continue
            try:
                sent.append((row, await self._send(producer, row)))
            except REFUSED_RECORD as error:  # refused by the client, unsent: the producer is unharmed
                held[(row["topic"], row["message_key"])] = row["id"]
                refused[row["id"]] = repr(error)
            except Exception as error:  # Kafka away: what was sent already is still awaited and remembered
                failure = error
                break
        outcomes = await asyncio.gather(*(delivery for _, delivery in sent), return_exceptions=True)
        failed_after_sending = False
        for (row, _), outcome in zip(sent, outcomes, strict=True):
            key = (row["topic"], row["message_key"])
            if key in held and row["id"] > held[key]:  # after a row of its key that did not get through
                continue
            if not isinstance(outcome, BaseException):
                self._acknowledged.append(row["id"])
                metrics.EVENTS_PUBLISHED.labels(self.outbox.producer, row["topic"]).inc()
                self._published_since_error = True
                continue
            held[key] = min(held.get(key, row["id"]), row["id"])
            failed_after_sending = True
            if isinstance(outcome, REFUSED_RECORD):
                refused[row["id"]] = repr(outcome)
            else:
                failure = failure or outcome
        if failed_after_sending:  # a failed produce request leaves the producer's sequence numbers behind
            await self._close_producer()
        if failure is not None:
            raise failure
        return refused

    async def _mark_acknowledged(self) -> None:
        """Mark what Kafka acknowledged; after a database error only the marking is repeated, never a send."""
        delay = 0.2
        while self._acknowledged:
            try:
                await self.pool.execute(MARK_PUBLISHED, self._acknowledged, timeout=self.lease.seconds)
            except Exception as error:  # the rows are on Kafka already: wait for the database, send nothing
                log.warning(
                    "marking %d published rows failed: %r; retrying in %.1fs", len(self._acknowledged), error, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                self._acknowledged = []

    async def _count_refusals(self, refused: dict[int, str]) -> None:
        await self.pool.executemany(COUNT_REFUSAL, [(i, error, self.send_attempts) for i, error in refused.items()])
        log.warning("Kafka refused %d outbox rows: %s", len(refused), sorted(refused.items())[:3])

    async def _update_gauges(self, *, full: bool) -> None:
        # A short batch drained what there was; only after a full one is the rest worth counting.
        backlog = await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") if full else 0
        metrics.OUTBOX_BACKLOG.labels(self.outbox.producer).set(backlog)
        if not full:
            metrics.OUTBOX_OLDEST_AGE.labels(self.outbox.producer).set(0.0)
        parked = await self.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL AND published_at IS NULL"
        )
        metrics.OUTBOX_PARKED.labels(self.outbox.producer).set(parked)

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

    async def _stand_down(self) -> None:
        """A graceful stop: mark what was acknowledged and hand the lease over, each given two seconds."""
        if self._acknowledged:
            with contextlib.suppress(Exception):
                await self.pool.execute(MARK_PUBLISHED, self._acknowledged, timeout=2)
        await self.lease.release()
        await self._close_producer()
