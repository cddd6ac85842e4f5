"""The relay does not amplify failures: a database that refuses the marking gets the marking again, not the
batch again; a row Kafka refuses is parked and the other keys go on. Real Kafka and PostgreSQL."""

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg

from tests.support.kafka import eventually, read_topic
from tests.support.stack import Namespace
from zorgstroom_contracts import topic_name
from zorgstroom_contracts.events import ClientWaitlisted
from zorgstroom_contracts.topics import Topic
from zorgstroom_ops import status
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.migrations import migrate
from zorgstroom_runtime.outbox import Outbox, unit_of_work
from zorgstroom_runtime.relay import OutboxRelay

KEY_A, KEY_B = "a" * 64, "b" * 64


async def write(pool: asyncpg.Pool, outbox: Outbox, count: int, key: str) -> list[str]:
    """`count` events on one key, one transaction each; their event ids in commit order."""
    ids = []
    for _ in range(count):
        event = ClientWaitlisted(
            client_ref=key,
            care_form="MO_24H",
            responsible_municipality="0034",
            urgency="high",
            waiting_since="2027-01-01",
        )
        async with unit_of_work(pool, outbox) as uow:
            ids.append(str((await uow.emit(event)).event_id))
    return ids


async def on_topic(ns: Namespace) -> list[str]:
    """The event_id of every record on the topic, duplicates included."""
    topic = topic_name(Topic.CLIENT_WAITLISTED, ns.prefix)
    records = await read_topic(ns.infra.kafka_bootstrap, topic, at_least=10**6, timeout=3)  # all there is
    return [json.loads(r.value)["event_id"] for r in records]


async def unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


@contextlib.asynccontextmanager
async def relaying(ns: Namespace, **options: int) -> AsyncIterator[tuple[asyncpg.Pool, Outbox, OutboxRelay]]:
    """A schema of its own and a relay on it; the relay runs once the body starts it."""
    schema = f"relay_{ns.suffix}"
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema)
    outbox = Outbox("placement", "flevoland", ns.prefix, schema)
    relay = OutboxRelay(pool, outbox, KafkaConnection(ns.infra.kafka_bootstrap), poll_seconds=0.2, **options)  # type: ignore[arg-type]
    try:
        yield pool, outbox, relay
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failing_mark_does_not_resend_the_batch(ns: Namespace) -> None:
    async with relaying(ns) as (pool, outbox, relay):
        written = await write(pool, outbox, 50, KEY_B)
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
        on_b = await write(pool, outbox, 100, KEY_B)
        (behind_it,) = await write(pool, outbox, 1, KEY_A)  # must wait: per key, order is kept

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
