"""A rebalance in the middle of a transaction: the partition moves to another member while the first one is
still applying an event, and every event is applied once all the same. Real Kafka and PostgreSQL.

The second member takes the partition because it sorts first: with one partition and Kafka's round-robin
assignor (aiokafka's default), the member whose id (client id first) sorts lowest gets it.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pytest
from aiokafka import TopicPartition

from tests.integration.test_delivery import message, registered_envelope
from tests.support.kafka import eventually, in_background, produce
from tests.support.stack import Namespace
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_runtime.batch import BatchConsumer, Delivery, claim_new
from zorgstroom_runtime.consumer import IdempotentConsumer
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.handlers import On, Subscription
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics
from zorgstroom_runtime.migrations import migrate
from zorgstroom_runtime.outbox import Outbox, UnitOfWork

FIRST, JOINER = "zz-first", "aa-joiner"  # the joiner's client id sorts first: it takes the one partition
TABLES = (
    "CREATE TABLE applied (event_id uuid NOT NULL, member text NOT NULL);"  # one row per application, no key
    " CREATE TABLE ledger (event_id uuid PRIMARY KEY);"  # the batch consumer's dedupe
)


class Member(Protocol):
    subscriber: Any

    async def run(self) -> None: ...


class Hold:
    """Holds the first member inside its first transaction, after its writes, until released."""

    def __init__(self) -> None:
        self.inside, self.release = asyncio.Event(), asyncio.Event()
        self.pid: int | None = None  # the first member's database session, while it holds its transaction

    async def __call__(self, member: str, conn: asyncpg.Connection) -> None:
        if member == FIRST and not self.inside.is_set():
            self.pid = conn.get_server_pid()
            self.inside.set()
            await self.release.wait()


@contextlib.asynccontextmanager
async def group_schema(ns: Namespace, tmp_path: Path) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    schema = f"rebalance_{ns.suffix}"
    migrations = tmp_path / "rebalance" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_applied.sql").write_text(TABLES)
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema, migrations)
    try:
        yield pool, schema
    finally:
        await pool.close()


def running(member: Member) -> contextlib.AbstractAsyncContextManager[None]:
    return in_background(member.run)


def per_event(
    ns: Namespace, pool: asyncpg.Pool, schema: str, topic: str, group: str, hold: Hold
) -> Callable[[str], IdempotentConsumer]:
    def member(name: str) -> IdempotentConsumer:
        async def count(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
            await uow.conn.execute("INSERT INTO applied VALUES ($1, $2)", envelope.event_id, name)
            await hold(name, uow.conn)

        return IdempotentConsumer(
            pool,
            Outbox(name, "flevoland", ns.prefix, schema),  # the producer's name is the consumer's client id
            KafkaConnection(ns.infra.kafka_bootstrap),
            Subscription(group_id=group, topics=[topic], handlers=[On(ClientRegistered, count)]),
        )

    return member


class Counting:
    """A projection that records each application, deduplicated by its ledger as reporting's are."""

    event_types = frozenset({"ClientRegistered"})
    tables: Sequence[str] = ("applied",)

    def __init__(self, name: str, hold: Hold) -> None:
        self.name, self.hold = name, hold

    async def apply(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> Sequence[Delivery]:
        fresh = await claim_new(conn, "ledger", deliveries)
        await conn.executemany("INSERT INTO applied VALUES ($1, $2)", [(d.envelope.event_id, self.name) for d in fresh])
        await self.hold(self.name, conn)
        return fresh


def batched(
    ns: Namespace, pool: asyncpg.Pool, schema: str, topic: str, group: str, hold: Hold
) -> Callable[[str], BatchConsumer]:
    def member(name: str) -> BatchConsumer:
        return BatchConsumer(
            pool, KafkaConnection(ns.infra.kafka_bootstrap), Counting(name, hold), group_id=group, topics=[topic],
            service=name,
        )  # fmt: skip

    return member


async def waiting_behind(pool: asyncpg.Pool, pid: int) -> int:
    """How many database sessions wait for a lock that session `pid` holds."""
    return int(await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", pid))


def assigned(member: Member) -> set[TopicPartition]:
    consumer = getattr(member.subscriber, "consumer", None)
    return set(consumer.assignment()) if consumer is not None else set()


@pytest.mark.parametrize("kind", [per_event, batched], ids=["per-event", "batch"])
async def test_a_partition_revoked_mid_transaction_is_applied_once(
    ns: Namespace, tmp_path: Path, kind: Callable[..., Callable[[str], Member]]
) -> None:
    topic = ns.topic("rebalance.v1")
    await ensure_topics(ns.infra.kafka_bootstrap, [topic], partitions=1)
    envelopes = [registered_envelope() for _ in range(3)]
    await produce(ns.infra.kafka_bootstrap, topic, [(b"one-key", message(e)[1], []) for e in envelopes])
    hold = Hold()
    async with group_schema(ns, tmp_path) as (pool, schema):
        member: Callable[[str], Member] = kind(ns, pool, schema, topic, f"rebalance-{uuid.uuid4()}", hold)
        first, joiner = member(FIRST), member(JOINER)
        async with running(first):
            await asyncio.wait_for(hold.inside.wait(), 30)  # the first member is inside its transaction
            async with running(joiner):
                partition = TopicPartition(topic, 0)
                await eventually(lambda: _now(assigned(joiner)), until=lambda tps: partition in tps, timeout=60)
                assert partition not in assigned(first)  # revoked while its transaction is still open
                assert hold.pid is not None
                # The joiner reads from the last committed offset, so it meets the same event and waits
                # for the first member's uncommitted dedupe row.
                await eventually(lambda: waiting_behind(pool, hold.pid or 0), until=lambda n: n >= 1, timeout=30)
                hold.release.set()
                await eventually(_applied_events(pool), until=lambda ids: len(ids) == len(envelopes), timeout=30)
                await asyncio.sleep(1.0)  # time for a wrongly repeated application to show
                rows = await pool.fetch("SELECT event_id, member FROM applied")

    assert sorted(r["event_id"] for r in rows) == sorted(e.event_id for e in envelopes)  # each exactly once
    first_event = next(r["member"] for r in rows if r["event_id"] == envelopes[0].event_id)
    assert first_event == FIRST  # the revoked member's transaction stood; the joiner found it applied


async def _now(value: set[TopicPartition]) -> set[TopicPartition]:
    return value


def _applied_events(pool: asyncpg.Pool) -> Callable[[], Awaitable[set[uuid.UUID]]]:
    async def applied() -> set[uuid.UUID]:
        return {row[0] for row in await pool.fetch("SELECT event_id FROM applied")}

    return applied
