"""SIGTERM lets the message in flight finish: its transaction commits, its offset is committed, and the
restarted service applies nothing twice. A service process of its own (tests/integration/slow_service.py),
stopped as an operator or an orchestrator stops it; real Kafka and PostgreSQL."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.test_delivery import message, registered_envelope
from tests.support.infra import ROOT
from tests.support.kafka import eventually, produce, read_topic
from tests.support.stack import Namespace
from zorgstroom_runtime.db import create_pool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(ns: Namespace, tmp_path: Path, schema: str) -> dict[str, str]:
    migrations = tmp_path / "slow" / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    (migrations / "0001_applied.sql").write_text("CREATE TABLE applied (event_id uuid NOT NULL, pid integer NOT NULL);")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ZS_SERVICE_NAME": "slow",
        "ZS_ENVIRONMENT": "test",
        "ZS_DATABASE_URL": ns.infra.database_url,
        "ZS_DB_SCHEMA": schema,
        "ZS_KAFKA_BOOTSTRAP": ns.infra.kafka_bootstrap,
        "ZS_TOPIC_PREFIX": ns.prefix,
        "ZS_REGION_FILE": str(ROOT / "data/regions/flevoland.toml"),
        "ZS_MUNICIPALITIES_FILE": str(ROOT / "data/municipalities-nl.csv"),
        "ZS_CREDENTIALS_FILE": str(ns.credentials_file),
        "ZS_HTTP_HOST": "127.0.0.1",
        "ZS_HTTP_PORT": str(free_port()),
        "ZS_TEST_MIGRATIONS": str(migrations),
        "ZS_TEST_MARKER": str(tmp_path / "marker"),
    }


@contextmanager
def slow_service(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.slow_service"],
            env=env,
            cwd=log.parent,  # no .env of the repository's: the settings are the ones given here
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def sigterm(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(process.wait, 30)


def lines_of(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


async def marked(marker: Path) -> list[str]:
    return await asyncio.to_thread(lines_of, marker)


async def committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return offsets[tp].offset if tp in offsets else None


async def test_sigterm_finishes_the_message_in_flight(ns: Namespace, tmp_path: Path) -> None:
    topic = ns.topic("wmo.client-registered.v1")
    in_flight, next_one = registered_envelope(), registered_envelope()
    await produce(ns.infra.kafka_bootstrap, topic, [(b"one-key", message(e)[1], []) for e in (in_flight, next_one)])
    (first_record, _) = await read_topic(ns.infra.kafka_bootstrap, topic, at_least=2)
    tp = TopicPartition(topic, first_record.partition)
    schema, marker, log = f"slow_{ns.suffix}", tmp_path / "marker", tmp_path / "slow.log"
    env = service_env(ns, tmp_path, schema)

    with slow_service(env, log) as process:
        await eventually(
            lambda: marked(marker), until=lambda lines: f"started {in_flight.event_id}" in lines, timeout=90
        )
        exited = await sigterm(process)  # two seconds before the handler returns
    lines = await marked(marker)
    assert f"finished {in_flight.event_id}" in lines, log.read_text()[-3000:]
    # uvicorn ends a graceful shutdown by raising the signal it caught again: a clean exit shows as -SIGTERM.
    assert exited in (0, -signal.SIGTERM), log.read_text()[-3000:]
    offset = await committed(ns.infra.kafka_bootstrap, f"{ns.prefix}slow", tp)
    assert offset is not None and offset > first_record.offset  # committed past the message in flight

    with slow_service(env, log) as process:  # the restart reads on from the committed offset
        await eventually(
            lambda: marked(marker), until=lambda lines: f"finished {next_one.event_id}" in lines, timeout=90
        )
        await asyncio.sleep(1.0)  # time for a wrongly repeated application to show
        await sigterm(process)

    pool = await create_pool(ns.infra.database_url, schema, create_schema=False)
    try:
        applied = await pool.fetch("SELECT event_id, count(*) AS n FROM applied GROUP BY event_id")
    finally:
        await pool.close()
    assert {row["event_id"]: row["n"] for row in applied} == {in_flight.event_id: 1, next_one.event_id: 1}
    assert lines.count(f"started {in_flight.event_id}") == 1 and lines.count(f"started {next_one.event_id}") <= 1
