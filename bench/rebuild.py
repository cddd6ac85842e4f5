"""Benchmark: rebuilding reporting's projections from offset zero, against a plain consumer of the same data.

Starts its own native Kafka and PostgreSQL (bench ports), writes N events (default 1,000,000) onto
reporting's topics: the life of a client in eight events (registration, placement, two readiness
assessments, an offer and its acceptance, the ending and the outflow), keyed by client as the services
publish them. Then, in the same run, over the same records:
  1. baseline: a plain aiokafka consumer that only reads every partition from the start to the end;
  2. the rebuild: every record opened and validated (envelope and event), folded into rows and written
     into fresh tables in batches, then switched in (`zorgstroom rebuild`, zorgstroom_runtime.rebuild).
Prints events per second of both and their ratio (target: >= 30,000 events/s and >= 0.5 of the plain
consumer), checks that the rebuilt tables hold what was written, and writes JSON to bench/results/.
Not a pass/fail test.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from zorgstroom_contracts import Envelope, spec_for, topic_name  # noqa: E402
from zorgstroom_contracts.events import (  # noqa: E402
    ClientRegistered,
    Event,
    HousingOfferAccepted,
    HousingOfferMade,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
)
from zorgstroom_reporting.bootstrap import DEFINITION  # noqa: E402
from zorgstroom_reporting.projections.writer import ReportingProjection  # noqa: E402
from zorgstroom_runtime.app import projection_topics  # noqa: E402
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, partitions_of  # noqa: E402
from zorgstroom_runtime.migrations import migrate  # noqa: E402
from zorgstroom_runtime.rebuild import rebuild  # noqa: E402

KAFKA_PORT, PG_PORT = 19492, 15462
BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
DATABASE = f"postgresql://zorgstroom@127.0.0.1:{PG_PORT}/zorgstroom"
PARTITIONS = 6
REF, INTAKE, PLACEMENT, OFFER = "f" * 64, "INTAKE-X", "PLACEMENT-X", "OFFER-X"
console = Console()


def infra(action: str, instance: str = "bench-rebuild", kafka_port: int = KAFKA_PORT, pg_port: int = PG_PORT) -> None:
    env = {**os.environ, "ZS_INSTANCE": instance, "ZS_KAFKA_PORT": str(kafka_port), "ZS_PG_PORT": str(pg_port)}
    for script in ("postgres.sh", "kafka.sh"):
        subprocess.run([str(ROOT / "deploy" / script), action], env=env, check=True)


def life() -> list[Event]:
    """One client's eight events, with placeholder ids that each copy replaces."""
    common = {"client_ref": REF, "responsible_municipality": "0034"}
    return [
        ClientRegistered(intake_id=INTAKE, registering_municipality="0034", care_form="BW_24H", needs=["psychiatric"],
                         urgency="normal", household={"adults": 1, "children": 0}, preferred_municipalities=[],
                         registered_on="2027-01-05", **common),
        PlacementMade(placement_id=PLACEMENT, facility_id="fac-1", provider_agb="11111111",
                      facility_municipality="0034", wijk="WK003401", care_form="BW_24H", start_date="2027-02-01",
                      waited_days=27, intake_id=INTAKE, **common),
        OutflowReadinessAssessed(placement_id=PLACEMENT, provider_agb="11111111", assessed_on="2027-05-01",
                                 ready=False, **common),
        OutflowReadinessAssessed(placement_id=PLACEMENT, provider_agb="11111111", assessed_on="2027-08-01",
                                 ready=True, **common),
        HousingOfferMade(offer_id=OFFER, unit_id="unit-1", corporation_id="corp-1", client_ref=REF,
                         municipality="0034", offered_on="2027-09-01", wijk="WK003402", quota_year=2027),
        HousingOfferAccepted(offer_id=OFFER, unit_id="unit-1", client_ref=REF, answered_on="2027-09-05"),
        PlacementEnded(placement_id=PLACEMENT, facility_id="fac-1", provider_agb="11111111", reason="19",
                       end_date="2027-09-30", **common),
        OutflowCompleted(placement_id=PLACEMENT, unit_id="unit-1", municipality="0034", outflow_date="2027-09-30",
                         support_at_home="none", wijk="WK003402", **common),
    ]  # type: ignore[arg-type]  # fmt: skip


def write_events(n: int) -> dict[str, int]:
    """N events on the real topics, produced with librdkafka (setup speed is not what is measured)."""
    templates = []
    for event in life():
        spec = spec_for(event)
        envelope = Envelope.wrap(event, producer="bench", region="flevoland")
        templates.append((topic_name(spec.topic), envelope.model_dump_json(), str(envelope.event_id)))
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 50, "batch.size": 1_000_000})
    per_topic: dict[str, int] = {}
    for i in range(n):
        topic, text, event_id = templates[i % len(templates)]
        client = i // len(templates)
        ref = f"{client:064x}"
        value = (
            text.replace(event_id, str(uuid.uuid4()))
            .replace(REF, ref)
            .replace(INTAKE, f"intake-{client}")
            .replace(PLACEMENT, f"placement-{client}")
            .replace(OFFER, f"offer-{client}")
        )
        while True:
            try:
                producer.produce(topic, value.encode(), ref.encode())
                break
            except BufferError:
                producer.poll(0.1)
        per_topic[topic] = per_topic.get(topic, 0) + 1
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    return per_topic


async def plain_read(topics: list[str], bootstrap: str = BOOTSTRAP) -> tuple[int, float]:
    """The baseline: read every record of the topics once, doing nothing with it."""
    kafka = KafkaConnection(bootstrap)
    known = await partitions_of(kafka, topics)
    partitions = [TopicPartition(t, p) for t in topics for p in known[t]]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        total, count = sum(ends.values()), 0
        started = time.perf_counter()
        while count < total:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                count += len(batch)
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()


async def fresh_topics(topics: list[str], bootstrap: str = BOOTSTRAP) -> None:
    """The topics made anew: what an earlier run wrote would be read again."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:  # a fresh start: what an earlier run wrote would be read again
        existing = set(await admin.list_topics()) & set(topics)
        if existing:
            await admin.delete_topics(sorted(existing))
            await asyncio.sleep(2)
    finally:
        await admin.close()
    await ensure_topics(bootstrap, topics, partitions=PARTITIONS)


async def fresh_schema(database: str = DATABASE) -> None:
    """Reporting's schema dropped and migrated again: empty live tables for the rebuild to replace."""
    pool = await asyncpg.create_pool(database, min_size=1, max_size=2, server_settings={"search_path": "reporting"})
    async with pool.acquire() as conn:
        await conn.execute("DROP SCHEMA IF EXISTS reporting CASCADE; CREATE SCHEMA reporting")
    await migrate(pool, "reporting", DEFINITION.migrations)
    await pool.close()


async def run(n: int) -> dict[str, object]:
    topics = projection_topics(ReportingProjection(), "")
    await fresh_topics(topics)
    await fresh_schema()

    console.print(f"writing {n:,} events onto {len(topics)} topics ({PARTITIONS} partitions each)")
    started = time.perf_counter()
    written = write_events(n)
    console.print(f"  written in {time.perf_counter() - started:.1f} s")

    plain_count, plain_seconds = await plain_read(sorted(written))
    console.print(f"plain aiokafka consumer: {plain_count:,} records in {plain_seconds:.1f} s")

    result = await rebuild(DATABASE, "reporting", ReportingProjection(), KafkaConnection(BOOTSTRAP), topics)
    conn = await asyncpg.connect(DATABASE)
    try:
        rows = {
            t: await conn.fetchval(f"SELECT count(*) FROM reporting.{t}")
            for t in ("registrations", "placements", "outflows", "assessments", "offers", "projection_events")
        }
    finally:
        await conn.close()
    clients = n // 8
    expected = {"registrations": clients, "placements": clients, "outflows": clients, "offers": clients}
    assert all(rows[t] == expected[t] for t in expected), (rows, expected)
    assert rows["projection_events"] == result.applied == n, (rows, result)

    plain_rate, rebuild_rate = plain_count / plain_seconds, result.per_second
    table = Table(title=f"Rebuild of reporting from offset zero, {n:,} events")
    for column in ("", "records", "seconds", "events/s", "ratio to plain read"):
        table.add_column(column, justify="right")
    table.add_row("plain aiokafka read", f"{plain_count:,}", f"{plain_seconds:.1f}", f"{plain_rate:,.0f}", "1.00")
    table.add_row(
        "rebuild (validate, fold, write, switch)",
        f"{result.records:,}",
        f"{result.seconds:.1f}",
        f"{rebuild_rate:,.0f}",
        f"{rebuild_rate / plain_rate:.2f}",
    )
    console.print(table)
    console.print(f"rows after the switch: {rows}")
    return {
        "measured_at": datetime.now(UTC).isoformat(),
        "events": n,
        "plain_events_per_second": round(plain_rate),
        "rebuild_events_per_second": round(rebuild_rate),
        "ratio": round(rebuild_rate / plain_rate, 3),
        "rebuild_seconds": round(result.seconds, 2),
        "target": {"events_per_second": 30_000, "ratio": 0.5},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1_000_000, help="events to write and replay (a multiple of 8)")
    parser.add_argument("--keep-infra", action="store_true", help="leave bench Kafka and PostgreSQL running")
    args = parser.parse_args()
    infra("start")
    try:
        figures = asyncio.run(run(args.n - args.n % 8))
    finally:
        if not args.keep_infra:
            infra("stop")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rebuild.json").write_text(json.dumps(figures, indent=2))
    console.print(f"written: {out / 'rebuild.json'}")
    console.print(f"written: {record(figures)}")


def record(figures: dict[str, object]) -> Path:
    """This run's section of bench/RESULTS.md."""
    plain, rebuilt = figures["plain_events_per_second"], figures["rebuild_events_per_second"]
    return write_section(
        "rebuild",
        f"Rebuild of reporting from offset zero, {figures['events']:,} events",
        ["", "events/s", "seconds", "ratio to plain read"],
        [["plain aiokafka read", f"{plain:,}", "", "1.00"],
         ["rebuild (validate, fold, write, switch)", f"{rebuilt:,}", figures["rebuild_seconds"], figures["ratio"]]],
        ratios={"rebuild / plain read (target >= 0.5)": figures["ratio"]},
    )  # fmt: skip


if __name__ == "__main__":
    main()
