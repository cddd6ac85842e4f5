"""`zorgstroom national generate`: a seeded national history (zorgstroom_ops.national) written to Kafka in bulk.

The records are the ones the outbox relay would publish (envelope, key, headers: runtime.relay.event_headers),
sent in whole batches per partition (acks from all in-sync replicas), with a progress bar. What was produced
is printed per region; the same seed writes the same records.
"""

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zorgstroom_ops.national import NationalHistory, records
from zorgstroom_ops.stack import secure_kafka
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics
from zorgstroom_runtime.relay import event_headers

console = Console()
national_app = typer.Typer(
    help="A seeded national history of the whole flow, for load and replay.", no_args_is_help=True
)
BATCH_BYTES = 512 * 1024  # one produce batch per partition, sent when full
PROGRESS_EVERY = 20_000  # records between two waits for acknowledgements (and two updates of the bar)


@dataclass(frozen=True)
class Published:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def publish(
    history: NationalHistory,
    kafka: KafkaConnection,
    prefix: str = "",
    *,
    partitions: int = 6,
    progress: Callable[[int], None] | None = None,
) -> Published:
    """Every record of the history onto the prefixed contract topics (made where missing).

    Records are put into one batch per partition, chosen by the producer's own partitioner (the one the relay's
    producer uses, so a key lands where the services would put it), and a full batch is sent whole: about
    twice the rate of one `send` per record, which the pure-Python producer spends most of its time on.
    """
    await ensure_topics(kafka, project_topics(prefix), partitions=partitions)
    producer = AIOKafkaProducer(
        **kafka.options(), client_id="zorgstroom-national", acks="all", max_batch_size=BATCH_BYTES,
        request_timeout_ms=60_000,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    started = loop.time()
    await producer.start()
    try:
        known: dict[str, tuple[int, ...]] = {}
        open_batches: dict[tuple[str, int], BatchBuilder] = {}
        sent: list[asyncio.Future[Any]] = []
        count = 0

        async def send(topic: str, partition: int) -> None:
            batch = open_batches.pop((topic, partition))
            batch.close()
            sent.append(await producer.send_batch(batch, topic, partition=partition))

        for record in records(history, prefix):
            if record.topic not in known:
                known[record.topic] = tuple(sorted(await producer.partitions_for(record.topic)))
            where = (record.topic, _partition(record.key, known[record.topic]))
            headers = event_headers(record.event_type, record.schema_version)
            if where not in open_batches:
                open_batches[where] = producer.create_batch()
            if open_batches[where].append(key=record.key, value=record.value, timestamp=None, headers=headers) is None:
                await send(*where)  # full: sent, and the record starts the next one
                open_batches[where] = producer.create_batch()
                open_batches[where].append(key=record.key, value=record.value, timestamp=None, headers=headers)
            count += 1
            if count % PROGRESS_EVERY == 0:
                await asyncio.gather(*sent)  # acknowledged before more is buffered
                sent.clear()
                if progress:
                    progress(count)
        for where in list(open_batches):
            await send(*where)
        await asyncio.gather(*sent)
        if progress:
            progress(count)
    finally:
        await producer.stop()
    return Published(count, loop.time() - started)


@functools.lru_cache(maxsize=100_000)
def _partition(key: bytes, partitions: tuple[int, ...]) -> int:
    """The producer's own partitioner, remembered per key: a client's events follow one another on several topics
    of the same partitions, and the pure-Python hash was a sixth of the time spent writing."""
    partition: int = DefaultPartitioner()(key, list(partitions), list(partitions))
    return partition


def _summary(history: NationalHistory) -> Table:
    table = Table("region (centre)", "municipalities", "inhabitants", "registrations", "placements", "outflows")
    for region in history.regions:
        codes = {m.code for m in region.members}
        table.add_row(
            f"{region.name} ({region.centre})",
            str(len(region.members)),
            f"{region.population:,}",
            *(f"{history.tally.total(what, codes):,}" for what in ("registrations", "placements", "outflows")),
        )
    table.add_row(
        "all regions",
        str(sum(len(r.members) for r in history.regions)),
        f"{sum(r.population for r in history.regions):,}",
        *(f"{history.tally.total(what):,}" for what in ("registrations", "placements", "outflows")),
        style="bold",
    )
    return table


def generate(
    seed: Annotated[int, typer.Option(help="The same seed writes the same events.")] = 1,
    years: Annotated[int, typer.Option(help="Years of history, from January 2016.")] = 10,
    scale: Annotated[float, typer.Option(help="Fraction of the national volumes (0.01: one in a hundred).")] = 1.0,
    bootstrap: Annotated[
        str | None,
        typer.Option(help="A Kafka to write to, PLAINTEXT; by default the stack's (with its SASL login when on)."),
    ] = None,
    prefix: Annotated[str, typer.Option(help="Topic prefix (the topics are made where missing).")] = "national.",
    partitions: Annotated[int, typer.Option(help="Partitions of topics made now.")] = 6,
    yes_live_topics: Annotated[
        bool, typer.Option(help="Allow an empty prefix: the synthetic events go onto the live contract topics.")
    ] = False,
) -> None:
    """Write a seeded national history (43 regions, 342 municipalities) as contract events onto Kafka."""
    if not prefix and not yes_live_topics:
        console.print(
            "[red]refused:[/red] an empty prefix writes synthetic events onto the live contract topics, which every"
            " service consumes; give a prefix (the default is national.) or add --yes-live-topics"
        )
        raise typer.Exit(2)
    kafka = KafkaConnection(bootstrap) if bootstrap else secure_kafka()[0]
    history = NationalHistory(seed, years, scale)
    with Progress(
        TextColumn("[bold]national history"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events (estimated total)"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("generate", total=history.expected_events())
        published = asyncio.run(
            publish(
                history,
                kafka,
                prefix,
                partitions=partitions,
                progress=lambda done: bar.update(task, completed=done, total=max(done, bar.tasks[0].total or 0)),
            )
        )
        bar.update(task, completed=published.events, total=published.events)
    console.print(_summary(history))
    console.print(
        f"{published.events:,} events in {published.seconds:.1f} s ({published.per_second:,.0f} events/s), "
        f"seed {seed}, {years} years from {history.start}, scale {scale}, topics {prefix or '(no prefix)'}wmo.*"
    )


national_app.command()(generate)
