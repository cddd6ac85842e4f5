"""The relay does not amplify failures: a database that refuses the marking gets the marking again, not the
batch again; a row Kafka refuses is parked and the other keys go on; a broker that is away parks nothing.
Real Kafka and PostgreSQL."""

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import LeaderNotAvailableError

from tests.integration.test_relay_leadership import unpublished, write
from tests.support.infra import Infra, broker_of_its_own, run_deploy
from tests.support.kafka import delete_topics, eventually, in_background, read_topic
from tests.support.stack import Namespace
from zorgstroom_contracts import topic_name
from zorgstroom_contracts.topics import Topic
from zorgstroom_ops import status
from zorgstroom_runtime import relay as relay_module
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, new_producer, partitions_of, project_topics
from zorgstroom_runtime.migrations import migrate
from zorgstroom_runtime.outbox import Outbox
from zorgstroom_runtime.relay import OutboxRelay

KEY_A, KEY_B = "a" * 64, "b" * 64
OUTAGE_INSTANCE = os.environ.get("ZS_TEST_RELAY_OUTAGE_INSTANCE", "test-relay-outage")
OUTAGE_PORT = int(os.environ.get("ZS_TEST_RELAY_OUTAGE_KAFKA_PORT", "19792"))


async def on_topic(ns: Namespace, bootstrap: str | None = None) -> list[str]:
    """The event_id of every record on the topic, duplicates included, in offset order per partition."""
    topic = topic_name(Topic.CLIENT_WAITLISTED, ns.prefix)
    records = await read_topic(bootstrap or ns.infra.kafka_bootstrap, topic, at_least=10**6, timeout=3)  # all there is
    return [json.loads(r.value)["event_id"] for r in records]


@contextlib.asynccontextmanager
async def relaying(
    ns: Namespace, bootstrap: str | None = None, **options: int
) -> AsyncIterator[tuple[asyncpg.Pool, Outbox, OutboxRelay]]:
    """A schema of its own and a relay on it; the relay runs once the body starts it."""
    schema = f"relay_{ns.suffix}"
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema)
    outbox = Outbox("placement", "flevoland", ns.prefix, schema)
    kafka = KafkaConnection(bootstrap or ns.infra.kafka_bootstrap)
    relay = OutboxRelay(pool, outbox, kafka, poll_seconds=0.2, **options)  # type: ignore[arg-type]
    try:
        yield pool, outbox, relay
    finally:
        await pool.close()


def running(relay: OutboxRelay) -> contextlib.AbstractAsyncContextManager[None]:
    return in_background(relay.run)


async def test_a_failing_mark_does_not_resend_the_batch(ns: Namespace) -> None:
    async with relaying(ns) as (pool, outbox, relay):
        written = await write(pool, outbox, 50, [KEY_B])
        await pool.execute(
            "CREATE FUNCTION refuse_marking() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$;"
            " CREATE TRIGGER outbox_refuse_marking BEFORE UPDATE ON outbox"
            " FOR EACH STATEMENT EXECUTE FUNCTION refuse_marking()"
        )
        async with running(relay):
            await eventually(lambda: on_topic(ns), until=lambda ids: set(ids) >= set(written))  # Kafka has them
            await asyncio.sleep(8)  # the database refuses to mark them published for eight seconds
            assert await unpublished(pool) == 50
            await pool.execute("DROP TRIGGER outbox_refuse_marking ON outbox")
            await eventually(lambda: unpublished(pool), until=lambda n: n == 0)
        copies = Counter(await on_topic(ns))
        assert set(copies) == set(written)
        assert max(copies.values()) <= 2, copies.most_common(3)


async def test_one_unsendable_row_does_not_hold_back_other_keys(ns: Namespace) -> None:
    async with relaying(ns, send_attempts=3) as (pool, outbox, relay):
        oversized = await pool.fetchval(  # 2 MB: more than the broker takes in one message
            "INSERT INTO outbox (event_id, topic, message_key, event_type, schema_version, payload)"
            " VALUES (gen_random_uuid(), $1, $2, 'ClientWaitlisted', 1, $3) RETURNING id",
            topic_name(Topic.CLIENT_WAITLISTED, ns.prefix),
            KEY_A,
            json.dumps({"padding": "x" * 2_000_000}),
        )
        on_b = await write(pool, outbox, 100, [KEY_B])
        (behind_it,) = await write(pool, outbox, 1, [KEY_A])  # must wait: per key, order is kept

        async with running(relay):
            await eventually(lambda: on_topic(ns), until=lambda ids: set(ids) >= set(on_b), timeout=10)
            parked = await eventually(
                lambda: pool.fetchrow("SELECT * FROM outbox WHERE id = $1 AND parked_at IS NOT NULL", oversized)
            )
            await asyncio.sleep(1)  # five polls more: the row behind it still waits
            (state,) = await status.outbox_states(ns.infra.database_url, [outbox.schema])

        assert parked["send_failures"] == 3
        assert "MessageSizeTooLarge" in parked["last_send_error"]
        assert behind_it not in await on_topic(ns)
        assert await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", behind_it) is None
        assert (state.backlog, state.parked) == (2, 1)  # reported by `zorgstroom status`


def in_commit_order_per_key(seen: list[str], *per_key: list[str]) -> None:
    """Every row arrived, and per key in commit order (a row sent twice counts where it first arrived)."""
    assert set(seen) == {i for written in per_key for i in written}
    first_copies = list(dict.fromkeys(seen))
    for written in per_key:
        assert [i for i in first_copies if i in written] == written


async def test_a_partition_without_a_leader_parks_nothing_and_gets_everything_in_order(ns: Namespace) -> None:
    topic = topic_name(Topic.CLIENT_WAITLISTED, ns.prefix)
    # One attempt is enough to park a row Kafka refuses for what it is: a partition without a leader must not count.
    async with relaying(ns, send_attempts=1) as (pool, outbox, relay), running(relay):
        await write(pool, outbox, 1, [KEY_A])
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0)  # the producer knows the partitions
        await delete_topics(ns.infra.kafka_bootstrap, [topic])  # its partitions lose their leader
        kafka = KafkaConnection(ns.infra.kafka_bootstrap)
        await eventually(lambda: partitions_of(kafka, [topic]), until=lambda found: not found)
        on_a, on_b = [], []
        for _ in range(10):  # interleaved, one transaction each
            on_a += await write(pool, outbox, 1, [KEY_A])
            on_b += await write(pool, outbox, 1, [KEY_B])
        await asyncio.sleep(25)  # past the producer's request timeout (15 s): its batches have expired
        counted = await pool.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL OR send_failures > 0")
        await ensure_topics(ns.infra.kafka_bootstrap, [topic], partitions=2)
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=60, interval=0.5)

    assert counted == 0
    in_commit_order_per_key(await on_topic(ns), on_a, on_b)


class WrappingProducer:
    """A real producer behind a fault-injecting `send`; start and stop go straight through."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()


class FailsOnce:
    """Producers (a new one after each failure, as the relay makes them) whose first send of one event fails
    as an expired batch fails, a second after the sends behind it; every other send goes to Kafka."""

    def __init__(self, event_id: str) -> None:
        self.event_id, self.failed = event_id, False

    def __call__(self, kafka: KafkaConnection, client_id: str) -> "FailsOnce.Producer":
        return FailsOnce.Producer(new_producer(kafka, client_id), self)

    class Producer(WrappingProducer):
        def __init__(self, producer: AIOKafkaProducer, faults: "FailsOnce") -> None:
            super().__init__(producer)
            self.faults = faults

        async def send(self, topic: str, **record: Any) -> "asyncio.Future[Any]":
            if not self.faults.failed and json.loads(record["value"])["event_id"] == self.faults.event_id:
                self.faults.failed = True
                expired: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().call_later(1.0, expired.set_exception, LeaderNotAvailableError())
                return expired
            return await self.producer.send(topic, **record)


async def test_a_row_whose_send_failed_is_not_overtaken_by_the_rows_behind_it(
    ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with relaying(ns) as (pool, outbox, relay):
        written = await write(pool, outbox, 8, [KEY_A, KEY_B])  # interleaved, one transaction each
        on_a, on_b = written[0::2], written[1::2]
        faults = FailsOnce(on_a[0])
        monkeypatch.setattr(relay_module, "new_producer", faults)
        async with running(relay):
            await eventually(lambda: unpublished(pool), until=lambda n: n == 0)

    assert faults.failed
    in_commit_order_per_key(await on_topic(ns), on_a, on_b)  # a consumer keeps each row's first copy


class Faulty:
    """Producers (a new one after each failure, as the relay makes them) that hand each send to Kafka and answer
    it `delay` seconds later; while `failing` is set, a send of its key fails a second later instead, as a batch
    for a partition without a leader expires."""

    def __init__(self, failing: str | None = None, delay: float = 0.0) -> None:
        self.failing, self.delay = failing, delay

    def __call__(self, kafka: KafkaConnection, client_id: str) -> "Faulty.Producer":
        return Faulty.Producer(new_producer(kafka, client_id), self)

    class Producer(WrappingProducer):
        def __init__(self, producer: AIOKafkaProducer, faults: "Faulty") -> None:
            super().__init__(producer)
            self.faults = faults

        async def send(self, topic: str, **record: Any) -> "asyncio.Future[Any]":
            faults, loop = self.faults, asyncio.get_running_loop()
            if faults.failing is not None and record["key"] == faults.failing.encode():
                expired: asyncio.Future[Any] = loop.create_future()
                loop.call_later(1.0, lambda: expired.done() or expired.set_exception(LeaderNotAvailableError()))
                return expired
            delivery = await self.producer.send(topic, **record)

            async def answered() -> Any:
                await asyncio.sleep(faults.delay)
                return await delivery

            return asyncio.ensure_future(answered())


async def test_a_key_whose_partition_has_no_leader_does_not_hold_back_the_other_keys(
    ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with relaying(ns, send_attempts=1) as (pool, outbox, relay):
        written = await write(pool, outbox, 16, [KEY_A, KEY_B])  # interleaved, one transaction each
        on_a, on_b = written[0::2], written[1::2]
        faults = Faulty(failing=KEY_A)
        monkeypatch.setattr(relay_module, "new_producer", faults)
        published_b = "SELECT count(*) FROM outbox WHERE message_key = $1 AND published_at IS NOT NULL"
        async with running(relay):
            # All of b's rows in the first attempt, while each of a's attempts waits for its send to fail.
            await eventually(lambda: pool.fetchval(published_b, KEY_B), until=lambda n: n == 8, timeout=4)
            assert await unpublished(pool) == 8
            faults.failing = None  # a's partition has a leader again
            await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=30)
        counted = await pool.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL OR send_failures > 0")

    assert counted == 0
    in_commit_order_per_key(await on_topic(ns), on_a, on_b)


async def test_a_slow_batch_stops_within_the_lease_so_a_standby_sends_nothing_twice(
    ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka answers each send in half a second: 24 rows of one key would take 12 s, three times the lease. The
    relay sends what fits in half the lease, and the rest in the next batch, read with its lease renewed; the
    standby relay never takes over mid-batch, so no row is sent twice."""
    monkeypatch.setattr(relay_module, "new_producer", Faulty(delay=0.5))
    async with relaying(ns, lease_seconds=4) as (pool, outbox, leader):
        written = await write(pool, outbox, 24, [KEY_A])
        standby = OutboxRelay(pool, outbox, leader.kafka, poll_seconds=0.2, lease_seconds=4)
        async with running(leader):
            await eventually(lambda: asyncio.sleep(0, leader.leading), until=bool)
            async with running(standby):
                await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=40)
                assert not standby.leading

    copies = Counter(await on_topic(ns))
    assert set(copies) == set(written)
    assert max(copies.values()) == 1, copies.most_common(3)


@pytest.fixture
def own_kafka(infra: Infra) -> Iterator[tuple[dict[str, str], str]]:
    with broker_of_its_own(infra, OUTAGE_INSTANCE, OUTAGE_PORT) as kafka:
        yield kafka


async def test_a_broker_that_is_away_parks_nothing_and_gets_everything_in_order(ns: Namespace, own_kafka) -> None:  # type: ignore[no-untyped-def]
    env, bootstrap = own_kafka
    await ensure_topics(bootstrap, project_topics(ns.prefix), partitions=3)
    # One attempt is enough to park a row Kafka refuses for what it is: a broker that is away must not count.
    async with relaying(ns, bootstrap, send_attempts=1) as (pool, outbox, relay), running(relay):
        before = await write(pool, outbox, 2, [KEY_A]) + await write(pool, outbox, 2, [KEY_B])
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0)  # the producer knows the partitions
        run_deploy("kafka.sh", "stop", env)
        on_a, on_b = [], []
        for _ in range(10):  # interleaved, one transaction each
            on_a += await write(pool, outbox, 1, [KEY_A])
            on_b += await write(pool, outbox, 1, [KEY_B])
        await asyncio.sleep(25)  # past the producer's request timeout (15 s): its sends have failed
        parked = await pool.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL OR send_failures > 0")
        run_deploy("kafka.sh", "start", env)
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=120, interval=0.5)

    assert parked == 0
    in_commit_order_per_key(await on_topic(ns, bootstrap), before[:2] + on_a, before[2:] + on_b)
