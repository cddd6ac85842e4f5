"""The shared runtime's consumer on its own: a handler that is not idempotent is still applied once."""

import asyncio
import contextlib
import uuid

from tests.integration.test_delivery import message, registered_envelope
from tests.support.kafka import eventually, produce
from tests.support.stack import Namespace
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_runtime.consumer import IdempotentConsumer
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.handlers import On, Subscription
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.migrations import migrate
from zorgstroom_runtime.outbox import Outbox


async def test_a_counting_handler_counts_each_event_once_however_often_it_arrives(ns: Namespace, tmp_path) -> None:
    schema = f"counting_{ns.suffix}"
    migrations = tmp_path / "counting" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_counter.sql").write_text(
        "CREATE TABLE counter (n integer NOT NULL); INSERT INTO counter VALUES (0);"
    )
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema, migrations)

    async def count(uow, envelope, event) -> None:  # type: ignore[no-untyped-def]
        await uow.conn.execute("UPDATE counter SET n = n + 1")

    topic = ns.topic("wmo.client-registered.v1")
    consumer = IdempotentConsumer(
        pool,
        Outbox("counting", "flevoland", ns.prefix, schema),
        KafkaConnection(ns.infra.kafka_bootstrap),
        Subscription(group_id=f"counting-{uuid.uuid4()}", topics=[topic], handlers=[On(ClientRegistered, count)]),
    )
    envelope, other = registered_envelope(), registered_envelope()
    key = b"same-partition"
    await produce(
        ns.infra.kafka_bootstrap, topic, [(key, message(envelope)[1], [])] * 3 + [(key, message(other)[1], [])]
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def applied() -> int:
            return await pool.fetchval("SELECT count(*) FROM processed_events")

        await eventually(applied, until=lambda n: n >= 2)
        await asyncio.sleep(0.5)  # give a wrongly applied duplicate the chance to show
        assert await pool.fetchval("SELECT n FROM counter") == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.close()
