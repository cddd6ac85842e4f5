"""Rebuild a projection from offset zero into fresh tables, then switch them in atomically.

The live projection keeps serving and keeps consuming while the rebuild runs:

1. Fresh, empty copies of the projection's tables are made in a schema of their own
   (`<schema>_rebuild`, `CREATE TABLE ... (LIKE live INCLUDING ALL)`).
2. Every partition of the projection's topics is read from its first offset up to the end offsets seen
   at the start (no consumer group: nothing of the live group's offsets is touched), and applied in
   large batches with the projection's own `apply`, on connections whose search_path is the rebuild
   schema. Two connections take turns, so PostgreSQL writes one batch while this process validates
   the next (the projection's writes are upserts that commute, taking row locks in one order).
   Because they commute, a large replay is shared out: each of one process per core (one process has
   one core, and validating and folding is CPU work) replays its share of the partitions this way.
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
import functools
import gc
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from zorgstroom_runtime.batch import Delivery, Projection, open_deliveries
from zorgstroom_runtime.delivery import DeadLetter
from zorgstroom_runtime.kafka import KafkaConnection, partitions_of

Progress = Callable[[int, int], None]
T = TypeVar("T")
_SLICE = 250  # records opened between two turns of the event loop  # (records read so far, records to read in all)


@dataclass(frozen=True)
class RebuildResult:
    records: int  # records read from Kafka
    applied: int  # events applied to the rebuilt tables
    skipped: int  # records that could not be opened (dead letters of the live consumer)
    ignored: int  # other event types on the same topics
    seconds: float
    previous_schema: str
    replay_seconds: float = 0.0  # of `seconds`: the replay up to the end offsets seen at the start
    processes: int = 1  # that replayed it (more than one for a large history)

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
        reading = dict(ends)  # the partitions not yet at their end
        while True:
            for tp, end in list(reading.items()):
                position = await self.consumer.position(tp)
                if position >= end:
                    if position > end:
                        self.consumer.seek(tp, end)
                    self.consumer.pause(tp)
                    del reading[tp]
            if not reading:
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


_IN_PROCESSES_FROM = 200_000  # records: below this, starting processes costs more than they save
_MOST_PROCESSES = 4  # by default: each holds two database connections


def _shares(ends: dict[TopicPartition, int], starts: dict[TopicPartition, int], n: int) -> list[list[TopicPartition]]:
    """The partitions in `n` shares of about as many records each (the largest partition first, to the
    share that has the fewest so far)."""
    shares: list[list[TopicPartition]] = [[] for _ in range(n)]
    sizes = [0] * n
    for tp in sorted(ends, key=lambda tp: ends[tp] - starts[tp], reverse=True):
        least = sizes.index(min(sizes))
        shares[least].append(tp)
        sizes[least] += ends[tp] - starts[tp]
    return [share for share in shares if share]


@dataclass(frozen=True)
class _Share:
    """What a process needs to replay its share: picklable, as a spawned process receives it."""

    database_url: str
    session: str  # the statements that point a connection at the rebuild's schema
    projection: Projection
    kafka: KafkaConnection
    batch_size: int
    ends: dict[TopicPartition, int]


def _replay_share(share: _Share, done: Any, results: Any) -> None:
    """A process of its own: its share of the partitions replayed from their first offset up to their ends;
    `done` (a shared counter) follows its records, `results` (a queue) gets its counts or its failure."""
    try:
        results.put(("done", _run(_replay_share_async(share, done))))
    except BaseException as error:  # the parent raises it, with where it happened (as text: a traceback won't pickle)
        results.put(("failed", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))


def _run(main: Coroutine[Any, Any, T]) -> T:
    """On uvloop where it is installed (as the services run): its C loop spends less of the process's one
    core on sockets, which a replay reads and writes a great deal."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _replay_share_async(share: _Share, done: Any) -> tuple[int, int, int, int]:
    conns = [await asyncpg.connect(share.database_url) for _ in range(2)]
    consumer = _consumer(share.kafka, f"{share.projection.name}-rebuild-{os.getpid()}", share.batch_size)
    try:
        for c in conns:
            await c.execute(share.session)
        await consumer.start()
        consumer.assign(list(share.ends))
        await consumer.seek_to_beginning(*share.ends)
        replay = _Replay(consumer, share.projection, share.batch_size)

        def progress(records: int, total: int) -> None:
            done.value = records

        with _fewer_collections():
            await _unless_orphaned(replay.until(share.ends, conns, progress, sum(share.ends.values())))
        return replay.records, replay.applied, replay.skipped, replay.ignored
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
        for c in conns:
            await c.close()


async def _unless_orphaned(work: Coroutine[Any, Any, None]) -> None:
    """`work`, given up when the parent process is gone (killed, or ended by a supervisor's SIGTERM: a daemon
    process is stopped only at its parent's normal exit), so that no orphan replays on into the rebuild schema."""
    task = asyncio.ensure_future(work)
    parent = multiprocessing.parent_process()
    while not task.done():
        await asyncio.wait([task], timeout=1.0)
        if not task.done() and parent is not None and not parent.is_alive():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise RuntimeError("the rebuild that started this replay process is gone")
    task.result()


async def _in_processes(replay: "_Replay", shares: list[_Share], progress: Progress, total: int) -> None:
    """Each share replayed by a process of its own (validating and folding is CPU work, and one process
    has one core); the counts added to `replay`'s, and its consumer moved to `ends` for the switch."""
    context = multiprocessing.get_context("spawn")  # a fork would copy this process's event loop and sockets
    results = context.Queue()
    counters = [context.Value("q", 0) for _ in shares]
    workers = [
        context.Process(target=_replay_share, args=(share, counter, results), daemon=True)
        for share, counter in zip(shares, counters, strict=True)
    ]
    replay.consumer.pause(*(tp for share in shares for tp in share.ends))  # no fetching here meanwhile
    try:
        for worker in workers:
            worker.start()
        outcomes: list[tuple[str, object]] = []
        while len(outcomes) < len(workers) and all(outcome == "done" for outcome, _ in outcomes):
            await asyncio.sleep(0.5)
            progress(replay.records + sum(c.value for c in counters), total)
            while not results.empty():
                outcomes.append(results.get())
            lost = [w for w in workers if w.exitcode not in (None, 0)]  # killed (OOM, SIGKILL): no answer comes
            if lost and results.empty() and len(outcomes) < len(workers):
                raise RuntimeError(
                    "a replay process ended without an answer: "
                    + ", ".join(f"pid {w.pid} exit code {w.exitcode}" for w in lost)
                )
            if len(outcomes) < len(workers) and not any(w.is_alive() for w in workers) and results.empty():
                raise RuntimeError("a replay process ended without an answer")
        failed = [str(what) for outcome, what in outcomes if outcome == "failed"]
        if failed:
            raise RuntimeError(f"replay process failed: {'; '.join(failed)}")
        for _, counts in outcomes:
            records, applied, skipped, ignored = cast(tuple[int, int, int, int], counts)
            replay.records += records
            replay.applied += applied
            replay.skipped += skipped
            replay.ignored += ignored
        for share in shares:
            for tp, end in share.ends.items():
                replay.consumer.seek(tp, end)
        progress(replay.records, total)
    finally:
        for worker in workers:
            if worker.pid is None:  # never started (start() itself failed): its error is the one raised
                continue
            if worker.is_alive():
                worker.terminate()
            worker.join(timeout=10)


def _consumer(kafka: KafkaConnection, client_id: str, batch_size: int) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **kafka.options(),
        group_id=None,
        enable_auto_commit=False,
        client_id=client_id,
        max_poll_records=batch_size,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )


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
    processes: int | None = None,
) -> RebuildResult:
    """Replay every topic from offset 0 into fresh tables and swap them in; the live tables until then.

    A topic whose history no longer starts at offset 0 (retention or a deletion removed its beginning)
    would rebuild a projection that silently lacks those events: refused, before anything is touched,
    unless the operator accepts it explicitly.

    A replay of at least `_IN_PROCESSES_FROM` records is shared out over `processes` processes (by default
    one per core this process may run on, at most four), each replaying its share of the partitions on two
    connections of its own.
    """
    started = time.perf_counter()
    live, fresh, previous = schema, f"{schema}_rebuild", f"{schema}_previous"
    conn = await asyncpg.connect(database_url)
    helper = await asyncpg.connect(database_url)  # a second writer while replaying (batches take turns)
    consumer = _consumer(kafka, f"{projection.name}-rebuild", batch_size)
    try:
        # One rebuild of a schema at a time: a second would drop the first's fresh schema under its writers.
        # Held by this session until it closes (the end of this function, or the process).
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"zorgstroom-rebuild:{live}"):
            raise RuntimeError(f"another rebuild of schema {live} is running: wait for it to end, then run this again")
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
        # The bulk writers see the fresh schema only (a table missing there is an error, never a write into the
        # live one); the connection that derives and switches reads what is not rebuilt (reporting's rounding
        # key) from the live schema after the fresh one.
        session = f"SET search_path TO {_quote(fresh)}; SET synchronous_commit TO off"
        await helper.execute(session)
        await conn.execute(f"SET search_path TO {_quote(fresh)}, {_quote(live)}; SET synchronous_commit TO off")
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        progress(0, total)
        # A projection may replay in bulk without what it keeps per batch (`for_bulk_replay`), then derive that
        # in one pass before the switch (`rebuilt`): reporting's aggregates. The switch's catch-up is a live batch.
        bulk = getattr(projection, "for_bulk_replay", None)
        replay = _Replay(consumer, bulk() if bulk is not None else projection, batch_size)
        shares = _shares(ends, starts, processes or min(len(os.sched_getaffinity(0)), _MOST_PROCESSES))
        in_processes = len(shares) > 1 and total >= _IN_PROCESSES_FROM
        if in_processes:
            share = functools.partial(_Share, database_url, session, replay.projection, kafka, batch_size)
            await _in_processes(replay, [share({tp: ends[tp] for tp in s}) for s in shares], progress, total)
        else:
            with _fewer_collections():
                await replay.until(ends, (conn, helper), progress, total)
        replayed = time.perf_counter() - started
        rebuilt = getattr(projection, "rebuilt", None)
        if rebuilt is not None:
            await rebuilt(conn)
        replay.projection = projection

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
            replay_seconds=replayed,
            processes=len(shares) if in_processes else 1,
        )
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # aiokafka's stop after a failed start
            await consumer.stop()
        await conn.close()
        await helper.close()
