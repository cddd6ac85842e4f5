"""Relay leadership is fenced: a stopped relay is replaced within its lease, and a replaced relay publishes
no more than the batch it had read. Relay A runs in a process of its own (this module is its entry point),
relay B in the test's event loop, both on one schema, against real Kafka and PostgreSQL."""

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from tests.support.infra import ROOT
from tests.support.kafka import eventually, read_topic
from tests.support.stack import Namespace
from zorgstroom_contracts import topic_name
from zorgstroom_contracts.events import ClientWaitlisted
from zorgstroom_contracts.topics import Topic
from zorgstroom_runtime.db import create_pool
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.migrations import migrate
from zorgstroom_runtime.outbox import Outbox, unit_of_work
from zorgstroom_runtime.relay import OutboxRelay

KEYS = [f"{i:064x}" for i in range(1, 11)]


def relay_on(pool: asyncpg.Pool, outbox: Outbox, bootstrap: str, **options: int) -> OutboxRelay:
    return OutboxRelay(pool, outbox, KafkaConnection(bootstrap), poll_seconds=0.2, **options)  # type: ignore[arg-type]


async def write(pool: asyncpg.Pool, outbox: Outbox, count: int, keys: Sequence[str] = KEYS) -> list[str]:
    """`count` events over `keys` in turn, one transaction each; their event ids in commit order."""
    ids = []
    for i in range(count):
        event = ClientWaitlisted(
            client_ref=keys[i % len(keys)],
            care_form="MO_24H",
            responsible_municipality="0034",
            urgency="high",
            waiting_since="2027-01-01",
        )
        async with unit_of_work(pool, outbox) as uow:
            ids.append(str((await uow.emit(event)).event_id))
    return ids


async def unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def on_topic(ns: Namespace) -> list[tuple[str, str]]:
    """(key, event_id) of every record, duplicates included, in topic order per partition (so per key)."""
    topic = topic_name(Topic.CLIENT_WAITLISTED, ns.prefix)
    records = await read_topic(ns.infra.kafka_bootstrap, topic, at_least=10**6, timeout=5)  # all there is
    return [(r.key.decode(), json.loads(r.value)["event_id"]) for r in records]


async def schema_for(ns: Namespace) -> tuple[asyncpg.Pool, Outbox]:
    schema = f"relay_{ns.suffix}"
    pool = await create_pool(ns.infra.database_url, schema)
    await migrate(pool, schema)
    return pool, Outbox("placement", "flevoland", ns.prefix, schema)


async def start_relay_process(ns: Namespace, schema: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    """Relay A in a process of its own; its log lines are collected as they come."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.test_relay_leadership",
        ns.infra.database_url,
        schema,
        ns.prefix,
        ns.infra.kafka_bootstrap,
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []

    async def collect() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            lines.append(line.decode(errors="replace"))

    asyncio.get_running_loop().create_task(collect())
    return process, lines


async def leading(relay: OutboxRelay) -> bool:
    return relay.leading


async def logged(lines: list[str], text: str) -> bool:
    return any(text in line for line in lines)


def first_copies_in_order(records: list[tuple[str, str]], written: list[str]) -> bool:
    """Per key, the first copy of each event comes in the order the events were written."""
    rank = {event_id: i for i, event_id in enumerate(written)}
    seen: set[str] = set()
    per_key: dict[str, list[int]] = defaultdict(list)
    for key, event_id in records:
        if event_id not in seen:
            seen.add(event_id)
            per_key[key].append(rank[event_id])
    return all(ranks == sorted(ranks) for ranks in per_key.values())


async def test_a_stopped_leader_is_replaced_within_its_lease(ns: Namespace) -> None:
    pool, outbox = await schema_for(ns)
    process, log_lines = await start_relay_process(ns, outbox.schema)
    standby = None
    try:
        written = await write(pool, outbox, 100)
        await eventually(lambda: unpublished(pool), until=lambda n: n < 100)  # only A runs: A leads
        standby = asyncio.create_task(relay_on(pool, outbox, ns.infra.kafka_bootstrap).run())
        process.send_signal(signal.SIGSTOP)
        written += await write(pool, outbox, 100)

        await eventually(lambda: unpublished(pool), until=lambda n: n == 0, timeout=30)
        assert {e for _, e in await on_topic(ns)} >= set(written)

        process.send_signal(signal.SIGCONT)
        newest = await write(pool, outbox, 50)
        await eventually(lambda: unpublished(pool), until=lambda n: n == 0)
        await eventually(lambda: logged(log_lines, "lost its lease"))  # A has resumed and read nothing more
        records = await on_topic(ns)
        copies = [e for _, e in records]
        assert set(copies) >= set(written + newest)
        assert all(copies.count(e) == 1 for e in newest)
        assert first_copies_in_order(records, written + newest)
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        await process.wait()
        if standby is not None:
            standby.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await standby
        await pool.close()


async def test_a_leader_that_lost_its_lease_stops_publishing(ns: Namespace) -> None:
    pool, outbox = await schema_for(ns)
    rows = 3000  # written at once, so that the relay is still busy when it loses its lease
    await pool.execute(
        "INSERT INTO outbox (event_id, topic, message_key, event_type, schema_version, payload)"
        " SELECT gen_random_uuid(), $1, $2, 'ClientWaitlisted', 1, json_build_object('event_id', gen_random_uuid())"
        " FROM generate_series(1, $3)",
        topic_name(Topic.CLIENT_WAITLISTED, ns.prefix),
        KEYS[0],
        rows,
    )
    relay = relay_on(pool, outbox, ns.infra.kafka_bootstrap, batch_size=10)
    leader = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: unpublished(pool), until=lambda n: n <= rows - 30, interval=0.01)
        # Another relay takes the lease (as after this one's had expired); what was published by then is
        # counted in the same statement.
        published_then = await pool.fetchval(
            "WITH taken AS (UPDATE relay_lease SET holder = 'another relay', epoch = epoch + 1,"
            " expires_at = now() + interval '1 hour' RETURNING 1)"
            " SELECT count(*) FROM outbox, taken WHERE published_at IS NOT NULL"
        )
        assert published_then < rows, "the relay had published everything before it lost its lease"
        await eventually(lambda: leading(relay), until=lambda held: not held)
        await asyncio.sleep(1)  # five of its polls: time enough to publish more, if it would
        assert len(await on_topic(ns)) <= published_then + 10  # at most the one batch it had read
        assert rows - await unpublished(pool) <= published_then + 10
    finally:
        leader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leader
        await pool.close()


def main() -> None:
    """Relay A: `python -m tests.integration.test_relay_leadership <database url> <schema> <prefix> <bootstrap>`."""
    database_url, schema, prefix, bootstrap = sys.argv[1:5]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    async def serve() -> None:
        pool = await create_pool(database_url, schema, create_schema=False)
        await relay_on(pool, Outbox("placement", "flevoland", prefix, schema), bootstrap, batch_size=20).run()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
