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
rows of other keys in the batch go on, then the relay backs off and sends the rest again. Per key, id order
is commit order (outbox.py), and a row is sent only once Kafka has acknowledged the rows before it on its
key, so even its first copy comes after theirs (see `_send_in_key_order`).
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
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
from zorgstroom_runtime.db import holds_session_state
from zorgstroom_runtime.idempotency import purge_expired
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, new_producer, project_topics
from zorgstroom_runtime.outbox import Outbox
from zorgstroom_runtime.relay_lease import RelayLease
from zorgstroom_runtime.telemetry import context_from_carrier, current_trace_carrier, no_statement_spans, tracer

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


def event_headers(event_type: str, schema_version: int) -> list[tuple[str, bytes]]:
    """The headers every published event carries beside its trace context (the dead-letter tools read them)."""
    return [
        ("event-type", event_type.encode()),
        ("schema-version", str(schema_version).encode()),
        ("content-type", b"application/json"),
    ]


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
        """Publish until cancelled. Commits of this process wake it in-process while it leads, and reach the
        leading process by NOTIFY while it stands by (RelayWake)."""
        detach = self.outbox.wake.attach(self.lease.held_within_term, self._wake.set)
        with no_statement_spans():  # its reads and marks: the publish spans, in the requests' traces, remain
            notifier = asyncio.create_task(self.outbox.wake.notify_after_commits(self.pool, self.outbox.channel))
        try:
            with no_statement_spans():
                await self._run()
        finally:
            detach()
            notifier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notifier

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with self.pool.acquire() as listen:
                    holds_session_state(listen)  # its SETs and LISTEN go with a reset when it is released
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
            refused, failure = await self._send_in_key_order(await self._ensure_producer(), rows)
            await self._mark_acknowledged()
            if refused:
                await self._count_refusals(refused)
            if failure is not None:  # after the others' rows are marked: the relay backs off, then tries again
                raise failure
        await self._update_gauges(full=len(rows) == self.batch_size)
        return len(rows)

    async def _send_in_key_order(
        self, producer: AIOKafkaProducer, rows: list[asyncpg.Record]
    ) -> tuple[dict[int, str], BaseException | None]:
        """Send the rows and remember what Kafka acknowledged; returns the rows it refused for what they are, and
        the first other failure (nothing is counted for it).

        Per (topic, key) one row is in flight at a time: a row goes to the producer only once Kafka has
        acknowledged the row before it on its key, so no row is ever on the topic before one of its key that
        was committed earlier (a consumer keeps the first copy of an event). The idempotent producer alone
        does not promise that: a batch that expires unsent (a partition without a leader for longer than the
        request timeout) fails, and a later batch of its partition may still be written. Keys go side by side,
        each at its own pace: a partition without a leader holds back only its own keys, while the others'
        rows go on. Once a row of a key is refused or fails, the later rows of that key in the batch wait for
        the next batch. No row is sent after half the lease: the lease is renewed when a batch is read, and a
        relay that outlasted it would share the rest with the relay that took over (the rest is read again).
        """
        refused: dict[int, str] = {}
        waiting: dict[tuple[str, str], deque[asyncpg.Record]] = {}  # per key, its rows not yet acknowledged
        for row in rows:  # rows come in id order
            waiting.setdefault((row["topic"], row["message_key"]), deque()).append(row)
        failure: BaseException | None = None
        stop_at = time.monotonic() + self.lease.seconds / 2
        while waiting and time.monotonic() < stop_at:
            failed, broken, not_taken = await self._send_with(producer, waiting, refused, stop_at)
            failure = failure or failed or not_taken
            if broken:  # a failed produce request leaves the producer's sequence numbers behind
                await self._close_producer()
            if not_taken is not None:  # Kafka away: the producer takes nothing, so no key goes on
                return refused, failure
            if broken and waiting:
                producer = await self._ensure_producer()
        if waiting:
            self._wake.set()  # the rest at once, read again under the renewed lease
        return refused, failure

    async def _send_with(
        self,
        producer: AIOKafkaProducer,
        waiting: dict[tuple[str, str], deque[asyncpg.Record]],
        refused: dict[int, str],
        stop_at: float,
    ) -> tuple[BaseException | None, bool, BaseException | None]:
        """Send each key's rows in turn on this producer, until they are sent, or a send failed after the producer
        took it (the producer is then broken: the rows in flight are awaited, nothing more is sent on it), or the
        producer refuses to take one, or time is up. Returns the first failure of a sent row, whether the producer
        is broken, and the failure of a send it did not take."""
        in_flight: dict[asyncio.Future[Any], tuple[str, str]] = {}
        failure: BaseException | None = None
        not_taken: BaseException | None = None
        broken = False
        ready = list(waiting)  # keys whose next row may go now
        while True:
            for key in ready if not (broken or not_taken) and time.monotonic() < stop_at else []:
                try:
                    in_flight[await self._send(producer, waiting[key][0])] = key
                except REFUSED_RECORD as error:  # refused by the client, unsent: the producer is unharmed
                    refused[waiting.pop(key)[0]["id"]] = repr(error)
                except Exception as error:  # what was sent already is still awaited and remembered
                    not_taken = error
                    break
            if not in_flight:
                return failure, broken, not_taken
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            ready = []
            for delivery in done:
                key = in_flight.pop(delivery)
                fault = asyncio.CancelledError() if delivery.cancelled() else delivery.exception()
                if fault is None:
                    self._acknowledge(waiting[key].popleft())
                    if waiting[key]:
                        ready.append(key)
                    else:
                        del waiting[key]
                    continue
                broken = True  # this key leaves the batch, its later rows with it
                row = waiting.pop(key)[0]
                if isinstance(fault, REFUSED_RECORD):
                    refused[row["id"]] = repr(fault)
                else:
                    failure = failure or fault

    def _acknowledge(self, row: asyncpg.Record) -> None:
        self._acknowledged.append(row["id"])
        metrics.EVENTS_PUBLISHED.labels(self.outbox.producer, row["topic"]).inc()
        self._published_since_error = True

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
                *event_headers(row["event_type"], row["schema_version"]),
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
