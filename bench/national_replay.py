"""Benchmark: a national history (43 regions, 342 municipalities, ten years) replayed into reporting.

Generates the seeded history once (`zorgstroom national generate`: zorgstroom_ops.national_command.publish)
onto a prefixed topic set, then, in the same run, over the same records:
  1. baseline: a plain aiokafka consumer that only reads every partition of reporting's topics (bench/rebuild.py);
  2. the rebuild operators run (`zorgstroom rebuild`: zorgstroom_ops.rebuild_command.run_rebuild), from offset
     zero into fresh tables, then switched in.
Prints events, seconds, events/s and the ratio of the two (target: the replay in under 5 minutes), checks that
reporting holds every registration, placement, outflow and withdrawal the generator says it produced, writes JSON
to bench/results/ and its section of bench/RESULTS.md. Starts its own Kafka and PostgreSQL unless --bootstrap and
--database name running ones. Not a pass/fail test.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.rebuild import fresh_schema, fresh_topics, infra, plain_read  # noqa: E402
from bench.results import write_section  # noqa: E402
from zorgstroom_ops.national import NationalHistory  # noqa: E402
from zorgstroom_ops.national_command import publish  # noqa: E402
from zorgstroom_ops.rebuild_command import run_rebuild  # noqa: E402
from zorgstroom_reporting.projections.writer import ReportingProjection  # noqa: E402
from zorgstroom_runtime.app import projection_topics  # noqa: E402
from zorgstroom_runtime.kafka import KafkaConnection  # noqa: E402

INSTANCE, KAFKA_PORT, PG_PORT = "bench-national", 19494, 15464
TARGET_SECONDS = 300
console = Console()


async def generate(history: NationalHistory, bootstrap: str, prefix: str) -> tuple[int, float]:
    with Progress(
        TextColumn("[bold]national history"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("generate", total=history.expected_events())
        published = await publish(
            history,
            KafkaConnection(bootstrap),
            prefix,
            progress=lambda done: bar.update(task, completed=done, total=max(done, history.expected_events())),
        )
        bar.update(task, completed=published.events, total=published.events)
    return published.events, published.seconds


async def run(args: argparse.Namespace, bootstrap: str, database: str) -> dict[str, object]:
    topics = projection_topics(ReportingProjection(), args.prefix)
    await fresh_topics(topics, bootstrap)
    await fresh_schema(database)
    history = NationalHistory(args.seed, args.years, args.scale)
    events, generate_seconds = await generate(history, bootstrap, args.prefix)
    console.print(f"generated {events:,} events in {generate_seconds:.1f} s ({events / generate_seconds:,.0f}/s)")

    plain_count, plain_seconds = await plain_read(topics, bootstrap)
    console.print(f"plain aiokafka read: {plain_count:,} records in {plain_seconds:.1f} s")
    result = await run_rebuild(database, "reporting", KafkaConnection(bootstrap), args.prefix)
    held = await held_by_reporting(database)
    produced = {what: history.tally.total(what) for what in held}
    assert held == produced, (held, produced)
    registrations = held["registrations"]
    assert result.applied == plain_count == events, (result, plain_count, events)

    plain_rate = plain_count / plain_seconds
    figures: dict[str, object] = {
        "seed": args.seed,
        "years": args.years,
        "scale": args.scale,
        "events": events,
        "registrations": registrations,
        "generate_seconds": round(generate_seconds, 1),
        "plain_read_seconds": round(plain_seconds, 1),
        "plain_events_per_second": round(plain_rate),
        "replay_seconds": round(result.seconds, 1),
        "replay_events_per_second": round(result.per_second),
        "ratio": round(result.per_second / plain_rate, 3),
        "target_seconds": TARGET_SECONDS,
    }
    table = Table(title=f"National history (seed {args.seed}, {args.years} years, scale {args.scale}) into reporting")
    for column in ("", "events", "seconds", "events/s", "ratio to plain read"):
        table.add_column(column, justify="right")
    for label, seconds, rate, ratio in rows(figures):
        table.add_row(label, f"{events:,}", seconds, rate, ratio)
    console.print(table)
    return figures


HELD = {  # what the generator tallies, and how reporting's tables hold it
    "registrations": "SELECT count(*) FROM reporting.registrations",
    "placements": "SELECT count(*) FROM reporting.placements WHERE start_date IS NOT NULL",
    "outflows": "SELECT count(*) FROM reporting.outflows",
    "withdrawals": "SELECT count(*) FROM reporting.withdrawals",
}


async def held_by_reporting(database: str) -> dict[str, int]:
    """How many registrations, placements, outflows and withdrawals reporting holds after the replay."""
    conn = await asyncpg.connect(database)
    try:
        return {what: int(await conn.fetchval(query)) for what, query in HELD.items()}
    finally:
        await conn.close()


def rows(f: dict[str, object]) -> list[tuple[str, str, str, str]]:
    written = float(f["events"]) / float(f["generate_seconds"])  # type: ignore[arg-type]
    return [
        ("generate and write (aiokafka batches)", f"{f['generate_seconds']}", f"{written:,.0f}", ""),
        ("plain aiokafka read", f"{f['plain_read_seconds']}", f"{f['plain_events_per_second']:,}", "1.00"),
        (
            "replay into reporting (zorgstroom rebuild)",
            f"{f['replay_seconds']}",
            f"{f['replay_events_per_second']:,}",
            f"{f['ratio']}",
        ),
    ]


def record(figures: dict[str, object]) -> Path:
    """This run's section of bench/RESULTS.md."""
    met = "met" if float(figures["replay_seconds"]) < TARGET_SECONDS else "NOT met"  # type: ignore[arg-type]
    return write_section(
        "national_replay",
        f"National replay: {figures['events']:,} events of ten years, 342 municipalities, into reporting",
        ["", "events", "seconds", "events/s", "ratio to plain read"],
        [(label, f"{figures['events']:,}", seconds, rate, ratio) for label, seconds, rate, ratio in rows(figures)],
        ratios={"replay / plain read": figures["ratio"]},
        notes=[
            f"Target: the replay in under {TARGET_SECONDS} s: {met} ({figures['replay_seconds']} s). "
            f"Reporting holds every registration ({figures['registrations']:,}), placement, outflow and withdrawal the"
            " generator produced. Load average"
            f" at the start of the run: {figures['load_average_at_start']:.1f} (on {os.cpu_count()} cores).",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the national volumes")
    parser.add_argument("--prefix", default="national.", help="topic prefix of the history")
    parser.add_argument("--bootstrap", help="a running Kafka (PLAINTEXT) instead of the benchmark's own")
    parser.add_argument("--database", help="a running PostgreSQL (its reporting schema is dropped) with --bootstrap")
    parser.add_argument("--keep-infra", action="store_true", help="leave the benchmark's Kafka and PostgreSQL running")
    args = parser.parse_args()
    own = not (args.bootstrap and args.database)
    bootstrap = f"127.0.0.1:{KAFKA_PORT}" if own else args.bootstrap
    database = f"postgresql://zorgstroom@127.0.0.1:{PG_PORT}/zorgstroom" if own else args.database
    if own:
        infra("start", INSTANCE, KAFKA_PORT, PG_PORT)
    started, load_at_start = time.perf_counter(), os.getloadavg()[0]
    try:
        figures = asyncio.run(run(args, bootstrap, database)) | {"load_average_at_start": load_at_start}
    finally:
        if own and not args.keep_infra:
            infra("stop", INSTANCE, KAFKA_PORT, PG_PORT)
    console.print(f"whole run {time.perf_counter() - started:.0f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "national_replay.json").write_text(json.dumps(figures, indent=2))
    console.print(f"written: {out / 'national_replay.json'} and {record(figures)}")


if __name__ == "__main__":
    main()
