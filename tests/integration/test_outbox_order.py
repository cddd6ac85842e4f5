"""Per-key order under concurrent writers: two transactions write events for one key; the topic carries
them in the order the transactions committed, whatever order their rows were started in."""

import asyncio
import json

import asyncpg

from tests.support.kafka import read_topic
from tests.support.stack import Namespace
from zorgstroom_contracts import topic_name
from zorgstroom_contracts.events import ClientWaitlisted
from zorgstroom_contracts.topics import Topic
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.migrations import migrate
from zorgstroom_runtime.outbox import Outbox, unit_of_work
from zorgstroom_runtime.relay import OutboxRelay

KEY = "ab" * 32


def waitlisted(since: str) -> ClientWaitlisted:
    return ClientWaitlisted(
        client_ref=KEY, care_form="MO_24H", responsible_municipality="0034", urgency="high", waiting_since=since
    )  # type: ignore[arg-type]


async def published_order(ns: Namespace, pool: asyncpg.Pool, outbox: Outbox) -> list[str]:
    relay = OutboxRelay(pool, outbox, KafkaConnection(ns.infra.kafka_bootstrap))
    await relay.publish_batch()
    await relay._close_producer()
    records = await read_topic(ns.infra.kafka_bootstrap, topic_name(Topic.CLIENT_WAITLISTED, ns.prefix), at_least=2)
    return [json.loads(r.value)["data"]["waiting_since"] for r in records]


async def test_the_later_commit_is_published_later_although_it_started_first(ns: Namespace) -> None:
    schema = f"order_{ns.suffix}"
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema)
    outbox = Outbox("placement", "flevoland", ns.prefix, schema)
    emitted, committed = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:  # emits first, commits last
        async with unit_of_work(pool, outbox) as uow:
            await uow.emit(waitlisted("2027-01-01"))
            emitted.set()
            await committed.wait()

    async def quick_writer() -> None:  # emits second, commits first
        await emitted.wait()
        async with unit_of_work(pool, outbox) as uow:
            await uow.emit(waitlisted("2027-02-02"))
        committed.set()

    await asyncio.gather(slow_writer(), quick_writer())
    assert await published_order(ns, pool, outbox) == ["2027-02-02", "2027-01-01"]
    await pool.close()


async def test_a_second_writer_on_the_key_waits_for_the_first_to_commit(ns: Namespace) -> None:
    schema = f"order_{ns.suffix}"
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema)
    outbox = Outbox("placement", "flevoland", ns.prefix, schema)
    flushed = asyncio.Event()
    order: list[str] = []

    async def first() -> None:  # its rows are in, but it has not committed yet
        async with unit_of_work(pool, outbox) as uow:
            await uow.emit(waitlisted("2027-01-01"))
            await uow.flush()
            flushed.set()
            await asyncio.sleep(0.5)
            order.append("first commits")

    async def second() -> None:
        await flushed.wait()
        async with unit_of_work(pool, outbox) as uow:
            await uow.emit(waitlisted("2027-02-02"))
        order.append("second commits")

    await asyncio.gather(first(), second())
    assert order == ["first commits", "second commits"]
    assert await published_order(ns, pool, outbox) == ["2027-01-01", "2027-02-02"]
    await pool.close()
