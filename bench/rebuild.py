"""Benchmark: rebuilding reporting's projections from offset zero, against a plain read and a naive projection.

Starts its own native Kafka and PostgreSQL (bench ports), writes N events (default 1,000,000) onto
reporting's topics: the life of a client in eight events (registration, placement, two readiness
assessments, an offer and its acceptance, the ending and the outflow), keyed by client as the services
publish them. Then, in the same run, over the same records:
  1. baseline: a plain aiokafka consumer that only reads every partition from the start to the end (once
     before and once after the rest; their mean is the baseline, so a busier minute weighs on both sides);
  2. a naive projection over the first `--naive-sample` records (half before the rebuild, half after, as
     for the plain read): each event opened the two-step way
     (envelope, then event) and applied with the rebuild's own `apply` (the facts' rows, not the aggregates
     the rebuild derives afterwards) in a transaction of its own, with PostgreSQL's default commit (waiting
     for the WAL flush), as a first version would; and once more with commits that do not wait, to show what
     of its cost is the flush and what the round trips;
  3. the rebuild: every record opened and validated (envelope and event), folded into rows and written
     into fresh tables in batches (shared out over one process per core), reporting's aggregates derived,
     then switched in (`zorgstroom rebuild`, zorgstroom_runtime.rebuild).
Prints events per second of each and the ratios (target, issue 17: the rebuild at >= 0.5 of the plain read
and >= 10 times the naive projection), checks that the rebuilt tables hold what was written, and writes
JSON to bench/results/ and its section of bench/RESULTS.md. `--profile FILE` records a py-spy profile (raw
stacks) of this process and its replay processes during the rebuild. Not a pass/fail test.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from zorgstroom_runtime.batch import Delivery  # noqa: E402
from zorgstroom_runtime.delivery import open_record  # noqa: E402
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


def write_events(n: int, bootstrap: str = BOOTSTRAP) -> dict[str, int]:
    """N events on the real topics, produced with librdkafka (setup speed is not what is measured)."""
    templates = []
    for event in life():
        spec = spec_for(event)
        envelope = Envelope.wrap(event, producer="bench", region="flevoland")
        templates.append((topic_name(spec.topic), envelope.model_dump_json(), str(envelope.event_id)))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000})
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


async def naive(
    topics: list[str], sample: int, bootstrap: str, database: str, *, wait_for_flush: bool
) -> tuple[int, float]:
    """The first `sample` records applied one event per transaction, into fresh tables of their own schema.

    Each record is opened the two-step way (delivery.open_record without its one-pass shortcut) and applied
    with reporting's own `apply` (ledger row, then one upsert per table the event touches), in a transaction
    of its own on one connection, committed before the next record is read: the rows of the rebuild's replay.
    """
    # The facts alone, as the rebuild's replay writes them (reporting's aggregates, which the rebuild derives
    # after its replay, are left out here: the naive figure is not made slower by them).
    projection, schema = ReportingProjection().for_bulk_replay(), "reporting_naive"
    conn = await asyncpg.connect(database)
    kafka = KafkaConnection(bootstrap)
    known = await partitions_of(kafka, topics)
    partitions = [TopicPartition(t, p) for t in topics for p in known[t]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        for table in projection.tables:
            await conn.execute(f"CREATE TABLE {schema}.{table} (LIKE reporting.{table} INCLUDING ALL)")
        await conn.execute(f"SET search_path TO {schema}, reporting")
        if not wait_for_flush:
            await conn.execute("SET synchronous_commit TO off")
        await consumer.start()
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count, started = 0, time.perf_counter()
        while count < sample:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=500)).values():
                for record in batch[: sample - count]:
                    envelope, event = open_record(record, projection.event_types.__contains__)
                    if event is not None:
                        async with conn.transaction():
                            await projection.apply(conn, [Delivery(record, envelope, event)])
                    count += 1
        seconds = time.perf_counter() - started
        applied = await conn.fetchval(f"SELECT count(*) FROM {schema}.projection_events")
        assert applied == count, (applied, count)
        return count, seconds
    finally:
        await consumer.stop()
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


@contextlib.contextmanager
def profiled(out: Path | None) -> Iterator[None]:
    """py-spy (not a dependency of the project: `uv run --with py-spy`) on this process while the block runs."""
    if out is None:
        yield
        return
    command = ["uv", "run", "--frozen", "--with", "py-spy", "py-spy", "record", "--pid", str(os.getpid())]
    command += ["--subprocesses", "--format", "raw", "--rate", "100", "--nonblocking", "-o", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)  # py-spy attached (uv resolves it first)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled on SIGINT
        spy.wait(timeout=60)


AREAS = (  # where a replay process's samples end, by the frame they end in (its innermost)
    ("pydantic validation", ("validate_json",)),
    ("asyncpg", ("asyncpg/", "<frozen abc>")),
    ("aiokafka", ("aiokafka/",)),
    ("event loop and sockets", ("asyncio/", "selectors.py", "uvloop")),
    ("folding into rows", ("projections/rows.py",)),
    ("reporting's writer", ("projections/writer.py",)),
    ("the replay loop (batch.py, rebuild.py)", ("zorgstroom_runtime/batch.py", "zorgstroom_runtime/rebuild.py")),
    ("starting the process (imports)", ("importlib", "dataclasses.py", "spawn_main")),
)


def profile_areas(raw: Path) -> str:
    """The replay processes' samples of a py-spy raw profile, by area, largest first."""
    counts: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "spawn_main" not in stack:
            continue  # this process: it waits for the replay processes, then derives and switches
        leaf = stack.rsplit(";", 1)[-1]
        area = next((name for name, marks in AREAS if any(m in leaf for m in marks)), "other")
        counts[area] = counts.get(area, 0) + int(n)
    total = sum(counts.values()) or 1
    return ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))


async def naive_halves(
    naives: dict[bool, list[tuple[int, float]]], topics: list[str], sample: int, bootstrap: str, database: str
) -> None:
    """Half the naive sample, with and without waiting for the flush: once before the rebuild and once after
    it, like the plain read, so that a busier minute weighs on both sides."""
    for flush in (True, False):
        count, seconds = await naive(topics, sample // 2, bootstrap, database, wait_for_flush=flush)
        naives[flush].append((count, seconds))
        console.print(
            f"naive projection{'' if flush else ', commits not waiting'}: {count:,} events in {seconds:.1f} s"
        )


async def rows_after(database: str) -> dict[str, int]:
    conn = await asyncpg.connect(database)
    try:
        return {
            t: await conn.fetchval(f"SELECT count(*) FROM reporting.{t}")
            for t in ("registrations", "placements", "outflows", "assessments", "offers", "projection_events")
        }
    finally:
        await conn.close()


async def run(
    args: argparse.Namespace, bootstrap: str, database: str
) -> tuple[dict[str, Any], list[tuple[int, float]]]:
    n, sample = args.n - args.n % 8, min(args.naive_sample, args.n)
    load_at_start = os.getloadavg()[0]
    topics = projection_topics(ReportingProjection(), "")
    await fresh_topics(topics, bootstrap)
    await fresh_schema(database)

    console.print(f"writing {n:,} events onto {len(topics)} topics ({PARTITIONS} partitions each)")
    started = time.perf_counter()
    written = write_events(n, bootstrap)
    console.print(f"  written in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}")

    plain = [await plain_read(sorted(written), bootstrap)]
    console.print(f"plain aiokafka read: {plain[0][0]:,} records in {plain[0][1]:.1f} s")
    naives: dict[bool, list[tuple[int, float]]] = {True: [], False: []}
    await naive_halves(naives, sorted(written), sample, bootstrap, database)

    with profiled(args.profile):
        result = await rebuild(database, "reporting", ReportingProjection(), KafkaConnection(bootstrap), topics)
    console.print(
        f"rebuild: {result.records:,} records in {result.seconds:.1f} s (the replay {result.replay_seconds:.1f} s);"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    plain.append(await plain_read(sorted(written), bootstrap))
    console.print(f"plain aiokafka read again: {plain[1][0]:,} records in {plain[1][1]:.1f} s")
    await naive_halves(naives, sorted(written), sample, bootstrap, database)
    naive_flushed, naive_async = (tuple(map(sum, zip(*naives[flush], strict=True))) for flush in (True, False))

    rows = await rows_after(database)
    clients = n // 8
    expected = {"registrations": clients, "placements": clients, "outflows": clients, "offers": clients}
    assert all(rows[t] == expected[t] for t in expected), (rows, expected)
    assert rows["projection_events"] == result.applied == n, (rows, result)
    assert all(count == n for count, _ in plain), plain

    plain_rate = sum(count / seconds for count, seconds in plain) / len(plain)
    naive_rate, naive_async_rate = naive_flushed[0] / naive_flushed[1], naive_async[0] / naive_async[1]
    figures: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(),
        "events": n,
        "naive_sample": naive_flushed[0],
        "load_average_at_start": round(load_at_start, 1),
        "plain_events_per_second": [round(count / seconds) for count, seconds in plain],
        "plain_mean_events_per_second": round(plain_rate),
        "naive_events_per_second": round(naive_rate),
        "naive_no_flush_wait_events_per_second": round(naive_async_rate),
        "rebuild_events_per_second": round(result.per_second),
        "rebuild_seconds": round(result.seconds, 2),
        "replay_seconds": round(result.replay_seconds, 2),
        "replay_events_per_second": round(result.records / result.replay_seconds),
        "replay_ratio": round(result.records / result.replay_seconds / plain_rate, 3),
        "processes": result.processes,
        "ratio": round(result.per_second / plain_rate, 3),
        "ratio_to_naive": round(result.per_second / naive_rate, 1),
        "ratio_to_naive_no_flush_wait": round(result.per_second / naive_async_rate, 1),
        "target": {"ratio": 0.5, "ratio_to_naive": 10},
    }
    if args.profile is not None and args.profile.exists():
        figures["profile"] = profile_areas(args.profile)
    show(figures, plain)
    console.print(f"rows after the switch: {rows}")
    return figures, plain


def show(f: dict[str, Any], plain: list[tuple[int, float]]) -> None:
    table = Table(title=f"Rebuild of reporting from offset zero, {f['events']:,} events")
    for column in ("", "events", "seconds", "events/s", "vs plain read", "rebuild vs it"):
        table.add_column(column, justify="right")
    for row in table_rows(f, plain):
        table.add_row(*row)
    console.print(table)


def table_rows(f: dict[str, Any], plain: list[tuple[int, float]]) -> list[list[str]]:
    mean, sample = f["plain_mean_events_per_second"], f["naive_sample"]
    naive_seconds = sample / f["naive_events_per_second"]
    naive_async_seconds = sample / f["naive_no_flush_wait_events_per_second"]
    rows = [
        [f"plain aiokafka read ({when})", f"{count:,}", f"{seconds:.1f}", f"{count / seconds:,.0f}", "", ""]
        for (count, seconds), when in zip(plain, ("before", "after"), strict=False)
    ]
    rows += [
        ["plain aiokafka read (mean: the baseline)", "", "", f"{mean:,}", "1.00", f"{f['ratio']:.2f}"],
        [
            "naive projection: one transaction per event",
            f"{sample:,}",
            f"{naive_seconds:.1f}",
            f"{f['naive_events_per_second']:,}",
            f"{f['naive_events_per_second'] / mean:.3f}",
            f"{f['ratio_to_naive']}",
        ],
        [
            "naive, commits not waiting for the WAL flush",
            f"{sample:,}",
            f"{naive_async_seconds:.1f}",
            f"{f['naive_no_flush_wait_events_per_second']:,}",
            f"{f['naive_no_flush_wait_events_per_second'] / mean:.3f}",
            f"{f['ratio_to_naive_no_flush_wait']}",
        ],
        [
            "rebuild (validate, fold, write, derive, switch)",
            f"{f['events']:,}",
            f"{f['rebuild_seconds']:.1f}",
            f"{f['rebuild_events_per_second']:,}",
            f"{f['ratio']:.2f}",
            "1",
        ],
        [
            "of which the replay (before derive and switch)",
            f"{f['events']:,}",
            f"{f['replay_seconds']:.1f}",
            f"{f['replay_events_per_second']:,}",
            f"{f['replay_ratio']:.2f}",
            "",
        ],
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1_000_000, help="events to write and replay (a multiple of 8)")
    parser.add_argument("--naive-sample", type=int, default=20_000, help="events the naive projection applies")
    parser.add_argument("--instance", default="bench-rebuild", help="name of the bench's Kafka and PostgreSQL")
    parser.add_argument("--kafka-port", type=int, default=KAFKA_PORT)
    parser.add_argument("--pg-port", type=int, default=PG_PORT)
    parser.add_argument("--keep-infra", action="store_true", help="leave bench Kafka and PostgreSQL running")
    parser.add_argument("--profile", type=Path, help="record a py-spy profile (raw stacks) of the rebuild here")
    args = parser.parse_args()
    bootstrap = f"127.0.0.1:{args.kafka_port}"
    database = f"postgresql://zorgstroom@127.0.0.1:{args.pg_port}/zorgstroom"
    infra("start", args.instance, args.kafka_port, args.pg_port)
    try:
        figures, plain = asyncio.run(run(args, bootstrap, database))
    finally:
        if not args.keep_infra:
            infra("stop", args.instance, args.kafka_port, args.pg_port)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rebuild.json").write_text(json.dumps(figures, indent=2))
    console.print(f"written: {out / 'rebuild.json'}")
    console.print(f"written: {record(figures, plain)}")


def record(f: dict[str, Any], plain: list[tuple[int, float]]) -> Path:
    """This run's section of bench/RESULTS.md."""
    met = f["ratio"] >= 0.5 and f["ratio_to_naive"] >= 10
    return write_section(
        "rebuild",
        f"Rebuild of reporting from offset zero, {f['events']:,} events, beside a plain read and a naive projection",
        ["", "events", "seconds", "events/s", "vs plain read", "rebuild vs it"],
        table_rows(f, plain),
        ratios={
            "rebuild / plain read (target >= 0.5)": f["ratio"],
            "rebuild / naive projection (target >= 10)": f["ratio_to_naive"],
            "rebuild / naive projection with commits not waiting for the flush": f["ratio_to_naive_no_flush_wait"],
            "the rebuild's replay alone / plain read": f["replay_ratio"],
        },
        notes=[
            f"Target (issue 17, 4): {'met' if met else 'not met'}. Load average at the start of the run:"
            f" {f['load_average_at_start']} (on 2 cores). The naive projection applies the first"
            f" {f['naive_sample'] // 2:,} records twice (before and after the rebuild), each opened the two-step"
            " way and applied with the same `apply`, in a transaction of its own (PostgreSQL's default commit,"
            " fsync on); the rebuild's tables were checked against what was written. The rebuild shares the"
            f" replay out over one process per core ({f['processes']}); its time includes deriving reporting's"
            " aggregates from the rebuilt facts and the switch.",
            *([f"py-spy profile of the replay processes (samples by the frame they end in): {f['profile']}."]
              if "profile" in f else []),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
