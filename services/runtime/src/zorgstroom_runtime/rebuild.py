"""Rebuild a projection from offset zero into fresh tables, then switch them in atomically.

The live projection keeps serving and keeps consuming while the rebuild runs:

1. Fresh, empty copies of the projection's tables are made in a schema of their own
   (`<schema>_rebuild`, `CREATE TABLE ... (LIKE live INCLUDING ALL)`).
2. Every partition of the projection's topics is read from its first offset up to the end offsets seen
   at the start (no consumer group: nothing of the live group's offsets is touched), and applied in
   large batches with the projection's own `apply`, on connections whose search_path is the rebuild
   schema. Two connections take turns, so PostgreSQL writes one batch while this process validates
   the next (the projection's writes are upserts that commute, taking row locks in one order).
   Records the live consumer dead-lettered are counted and skipped, not dead-lettered again.
3. The switch, in one transaction: lock the live tables (the live consumer waits for at most this
   transaction), read the end offsets again and apply what arrived meanwhile, move the live tables
   to `<schema>_previous` and the rebuilt ones into the live schema. Every event the live consumer
   had applied is below those end offsets, so the rebuilt tables hold it; its ledger makes the live
   consumer skip what it reads again afterwards.

If anything fails before the switch commits, the live tables are untouched: run it again.
"""

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from zorgstroom_runtime.batch import Delivery, Projection, open_deliveries
from zorgstroom_runtime.delivery import DeadLetter
from zorgstroom_runtime.kafka import KafkaConnection, partitions_of

Progress = Callable[[int, int], None]
_SLICE = 250  # records opened between two turns of the event loop  # (records read so far, records to read in all)


@dataclass(frozen=True)
class RebuildResult:
    records: int  # records read from Kafka
    applied: int  # events applied to the rebuilt tables
    skipped: int  # records that could not be opened (dead letters of the live consumer)
    ignored: int  # other event types on the same topics
    seconds: float
    previous_schema: str

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _take_over_privileges(conn: asyncpg.Connection, replaced: str, rebuilt: str) -> None:
    """The rebuilt table gets the owner and the grants of the one it replaces: the service's login role
    keeps exactly what it had (CREATE TABLE ... LIKE copies neither)."""
    owner = await conn.fetchval("SELECT relowner::regrole::text FROM pg_class WHERE oid = $1::regclass", replaced)
    await conn.execute(f"ALTER TABLE {rebuilt} OWNER TO {owner}")
    grants = await conn.fetch(
        "SELECT a.grantee::regrole::text AS grantee, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a"
        " WHERE c.oid = $1::regclass AND a.grantee <> 0 AND a.grantee <> c.relowner",
        replaced,
    )
    for grantee, privilege in grants:
        await conn.execute(f"GRANT {privilege} ON {rebuilt} TO {grantee}")


class TruncatedHistory(RuntimeError):
    """A topic's first offset is above 0: its earliest events are gone."""


class _Replay:
    def __init__(self, consumer: AIOKafkaConsumer, projection: Projection, batch_size: int) -> None:
        self.consumer, self.projection, self.batch_size = consumer, projection, batch_size
        self.records = self.applied = self.skipped = self.ignored = 0
        self._writing: dict[int, asyncio.Task[int]] = {}  # per connection, its batch being written
        self._turn = 0

    async def until(
        self, ends: dict[TopicPartition, int], conns: Sequence[asyncpg.Connection], progress: Progress, total: int
    ) -> None:
        """Apply every record below `ends`, each poll in one transaction (or a savepoint of the caller's).

        A partition that reaches its end is paused, and set back to its end if the poll read past it,
        so the next call starts exactly where this one stopped.
        """
        self.consumer.resume(*ends)
        while True:
            for tp, end in ends.items():
                position = await self.consumer.position(tp)
                if position >= end and tp not in self.consumer.paused():
                    if position > end:
                        self.consumer.seek(tp, end)
                    self.consumer.pause(tp)
            if len(self.consumer.paused()) >= len(ends):
                break
            polled = await self.consumer.getmany(timeout_ms=1000, max_records=self.batch_size)
            records = [r for tp, batch in polled.items() for r in batch if r.offset < ends.get(tp, 0)]
            if not records:
                continue
            deliveries, dead, ignored = await self._open(records)
            if deliveries:
                # Batches take turns over the connections: one is written while the next is opened.
                self._turn = (self._turn + 1) % len(conns)
                await self._written(self._turn)
                self._writing[self._turn] = asyncio.create_task(self._write(conns[self._turn], deliveries))
            self.records += len(records)
            self.skipped += len(dead)
            self.ignored += len(ignored)
            progress(self.records, total)
        for turn in list(self._writing):
            await self._written(turn)

    async def _open(
        self, records: list[ConsumerRecord]
    ) -> tuple[list[Delivery], list[tuple[ConsumerRecord, DeadLetter]], list[ConsumerRecord]]:
        """Open a poll's records in slices, yielding between them: the previous batch's statements are
        sent in those gaps, so PostgreSQL writes it while this process validates the next one."""
        deliveries: list[Delivery] = []
        dead: list[tuple[ConsumerRecord, DeadLetter]] = []
        ignored: list[ConsumerRecord] = []
        for start in range(0, len(records), _SLICE):
            opened = open_deliveries(records[start : start + _SLICE], self.projection.event_types)
            deliveries += opened[0]
            dead += opened[1]
            ignored += opened[2]
            await asyncio.sleep(0)
        return deliveries, dead, ignored

    async def _write(self, conn: asyncpg.Connection, deliveries: list[Delivery]) -> int:
        for attempt in range(5):
            try:
                async with conn.transaction():  # a savepoint when the caller holds a transaction
                    return len(await self.projection.apply(conn, deliveries))
            except asyncpg.DeadlockDetectedError:  # not expected (locks are taken in one order); retried
                await asyncio.sleep(0.05 * (attempt + 1))
        async with conn.transaction():
            return len(await self.projection.apply(conn, deliveries))

    async def _written(self, turn: int) -> None:
        writing = self._writing.pop(turn, None)
        if writing is not None:
            self.applied += await writing


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """A replay keeps a batch of small objects alive at a time and makes no reference cycles: the
    cyclic collector's default thresholds would scan them over and over (three times slower here)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(200_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def rebuild(
    database_url: str,
    schema: str,
    projection: Projection,
    kafka: KafkaConnection,
    topics: Sequence[str],
    *,
    progress: Progress = lambda done, total: None,
    batch_size: int = 5000,
    lock_timeout_seconds: int = 60,
    accept_truncated_history: bool = False,
) -> RebuildResult:
    """Replay every topic from offset 0 into fresh tables and swap them in; the live tables until then.

    A topic whose history no longer starts at offset 0 (retention or a deletion removed its beginning)
    would rebuild a projection that silently lacks those events: refused, before anything is touched,
    unless the operator accepts it explicitly.
    """
    started = time.perf_counter()
    live, fresh, previous = schema, f"{schema}_rebuild", f"{schema}_previous"
    conn = await asyncpg.connect(database_url)
    helper = await asyncpg.connect(database_url)  # a second writer while replaying (batches take turns)
    consumer = AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        client_id=f"{projection.name}-rebuild",
        max_poll_records=batch_size,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    try:
        known = await partitions_of(kafka, list(topics))
        partitions = [TopicPartition(topic, p) for topic in topics for p in sorted(known.get(topic, ()))]
        if not partitions:
            raise ValueError(f"none of the projection's topics exist: {', '.join(topics)}")
        await consumer.start()
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        truncated = sorted(f"{tp.topic}[{tp.partition}] starts at {starts[tp]}" for tp in partitions if starts[tp] > 0)
        if truncated and not accept_truncated_history:
            raise TruncatedHistory(
                "the history of these partitions no longer starts at offset 0, so a rebuild would lose the"
                f" events before it (the live projection is left as it is): {'; '.join(truncated)}"
            )
        await conn.execute(f"DROP SCHEMA IF EXISTS {_quote(fresh)} CASCADE; CREATE SCHEMA {_quote(fresh)}")
        for table in projection.tables:
            await conn.execute(
                f"CREATE TABLE {_quote(fresh)}.{_quote(table)} (LIKE {_quote(live)}.{_quote(table)} INCLUDING ALL)"
            )
        # A crash loses nothing here that a second run would not redo: commits need not wait for the WAL flush.
        for c in (conn, helper):
            await c.execute(f"SET search_path TO {_quote(fresh)}; SET synchronous_commit TO off")
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        progress(0, total)
        replay = _Replay(consumer, projection, batch_size)
        with _fewer_collections():
            await replay.until(ends, (conn, helper), progress, total)

        async with conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_seconds)}s'")
            live_tables = ", ".join(f"{_quote(live)}.{_quote(t)}" for t in projection.tables)
            await conn.execute(f"LOCK TABLE {live_tables} IN ACCESS EXCLUSIVE MODE")
            latest = await consumer.end_offsets(partitions)
            total += sum(latest[tp] - ends[tp] for tp in partitions)
            await replay.until(latest, (conn,), progress, total)  # inside this transaction: one writer
            await conn.execute(f"DROP SCHEMA IF EXISTS {_quote(previous)} CASCADE; CREATE SCHEMA {_quote(previous)}")
            for table in projection.tables:
                await conn.execute(f"ALTER TABLE {_quote(live)}.{_quote(table)} SET SCHEMA {_quote(previous)}")
                await conn.execute(f"ALTER TABLE {_quote(fresh)}.{_quote(table)} SET SCHEMA {_quote(live)}")
                await _take_over_privileges(
                    conn, f"{_quote(previous)}.{_quote(table)}", f"{_quote(live)}.{_quote(table)}"
                )
            await conn.execute(f"DROP SCHEMA {_quote(fresh)}")
        return RebuildResult(
            records=replay.records,
            applied=replay.applied,
            skipped=replay.skipped,
            ignored=replay.ignored,
            seconds=time.perf_counter() - started,
            previous_schema=previous,
        )
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # aiokafka's stop after a failed start
            await consumer.stop()
        await conn.close()
        await helper.close()
