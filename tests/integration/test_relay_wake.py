"""A commit wakes the relay without a NOTIFY in its transaction, and pooled connections skip the reset round trip
without leaking a failed transaction or session state; against real Kafka and PostgreSQL.

The relays here poll once a minute: an event published within seconds was woken, not polled for."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.integration.test_intake_one_statement import write_in_one_statement
from tests.integration.test_relay_leadership import relay_on, schema_for, unpublished, write
from tests.support.kafka import eventually
from tests.support.stack import Namespace
from zorgstroom_runtime.db import create_pool, holds_session_state
from zorgstroom_runtime.outbox import Outbox
from zorgstroom_runtime.relay import OutboxRelay

SLOW_POLL = 60.0


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def listening(database_url: str, channel: str) -> AsyncIterator[list[str]]:
    """The NOTIFYs on `channel` while inside, as another process's relay would hear them."""
    heard: list[str] = []
    conn = await asyncpg.connect(database_url)
    await conn.add_listener(channel, lambda *args: heard.append(args[2]))
    try:
        yield heard
    finally:
        await conn.close()


async def test_a_commit_in_the_leading_process_wakes_its_relay_without_a_notify(ns: Namespace) -> None:
    pool, outbox = await schema_for(ns)
    relay = relay_on(pool, outbox, ns.infra.kafka_bootstrap)
    relay.poll_seconds = SLOW_POLL
    try:
        async with running(relay), listening(ns.infra.database_url, outbox.channel) as heard:
            await eventually(lambda: asyncio.sleep(0, relay.leading))
            await asyncio.sleep(0.3)  # the relay has read the empty outbox and waits
            await write(pool, outbox, 3)
            await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=5)
            await asyncio.sleep(0.2)
            assert heard == []
    finally:
        await pool.close()


async def test_intakes_one_statement_registration_wakes_the_leading_relay_without_a_notify(ns: Namespace) -> None:
    """Intake's hot path (statement_unit_of_work, pending_as_ctes) wakes its own leading relay too: published well
    inside a poll of 60 s, and nothing sent on the channel."""
    pool, outbox = await schema_for(ns)
    relay = relay_on(pool, outbox, ns.infra.kafka_bootstrap)
    relay.poll_seconds = SLOW_POLL
    try:
        async with running(relay), listening(ns.infra.database_url, outbox.channel) as heard:
            await eventually(lambda: asyncio.sleep(0, relay.leading))
            await asyncio.sleep(0.3)
            await write_in_one_statement(pool, outbox, claim=True)
            await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=5)
            assert heard == []
    finally:
        await pool.close()


async def test_a_commit_in_a_standing_by_process_reaches_the_leader_by_notify(ns: Namespace) -> None:
    pool, outbox = await schema_for(ns)
    other_process = Outbox(outbox.producer, outbox.region, outbox.topic_prefix, outbox.schema)  # its own RelayWake
    leader = relay_on(pool, other_process, ns.infra.kafka_bootstrap)
    standby = relay_on(pool, outbox, ns.infra.kafka_bootstrap)
    leader.poll_seconds = standby.poll_seconds = SLOW_POLL
    try:
        async with running(leader), listening(ns.infra.database_url, outbox.channel) as heard:
            await eventually(lambda: asyncio.sleep(0, leader.leading))
            async with running(standby):
                await asyncio.sleep(0.3)
                assert not standby.leading
                await write(pool, outbox, 20)
                await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=5)
                assert 1 <= len(heard) < 20  # after the commits, several to one NOTIFY
    finally:
        await pool.close()


async def test_without_a_relay_in_the_process_each_transaction_notifies_at_commit(ns: Namespace) -> None:
    pool, outbox = await schema_for(ns)
    try:
        async with listening(ns.infra.database_url, outbox.channel) as heard:
            await write(pool, outbox, 2)
            await eventually(lambda: asyncio.sleep(0, len(heard)), until=lambda n: n == 2, timeout=5)
    finally:
        await pool.close()


@pytest.fixture
async def one_connection(ns: Namespace) -> AsyncIterator[asyncpg.Pool]:
    """A pool of one connection: what one acquirer leaves, the next one gets."""
    pool = await create_pool(ns.infra.database_url, f"reset_{ns.suffix}", max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def test_a_failed_transaction_never_reaches_the_next_acquirer(one_connection: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with one_connection.acquire() as conn:
            await conn.execute("BEGIN")  # not a managed transaction: only the release can end it
            await conn.execute("SELECT 1 / 0")
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SELECT 1") == 1
        assert not conn.is_in_transaction()


async def test_a_connection_marked_as_holding_session_state_is_reset_on_release(one_connection: asyncpg.Pool) -> None:
    async with one_connection.acquire() as conn:
        holds_session_state(conn)
        await conn.execute("SET statement_timeout = '1234ms'; LISTEN somewhere")
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "0"
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0


async def test_an_unmarked_connection_goes_back_without_a_reset_round_trip(one_connection: asyncpg.Pool) -> None:
    # Units of work hold nothing past their transaction; a session SET (which they never make) shows that no
    # reset ran.
    async with one_connection.acquire() as conn:
        await conn.execute("SET statement_timeout = '1234ms'")
    async with one_connection.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "1234ms"
