"""`zorgstroom rebuild`: replay every topic of reporting from offset zero into fresh tables, then switch.

The live service keeps answering and consuming while this runs; its tables are replaced in one
transaction at the end (see zorgstroom_runtime.rebuild). The previous tables stay in the schema
`<schema>_previous` until the next rebuild, for comparison or to switch back by hand.
"""

import asyncio
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from zorgstroom_ops.config import config
from zorgstroom_ops.stack import secure_kafka
from zorgstroom_reporting.bootstrap import DEFINITION
from zorgstroom_runtime.app import projection_topics
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.rebuild import RebuildResult, TruncatedHistory, rebuild

console = Console()


async def run_rebuild(
    database_url: str,
    schema: str,
    kafka: KafkaConnection,
    topic_prefix: str = "",
    *,
    batch_size: int = 5000,
    accept_truncated_history: bool = False,
    processes: int | None = None,
) -> RebuildResult:
    projection = DEFINITION.projection
    if projection is None:  # reporting is defined with its projection; guard for a changed definition
        raise typer.BadParameter("reporting has no projection to rebuild")
    topics = projection_topics(projection, topic_prefix)
    with Progress(
        TextColumn("[bold]rebuilding reporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("rebuild", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return await rebuild(
            database_url,
            schema,
            projection,
            kafka,
            topics,
            progress=progress,
            batch_size=batch_size,
            accept_truncated_history=accept_truncated_history,
            processes=processes,
        )


def rebuild_command(
    schema: Annotated[str, typer.Option(help="Reporting's database schema.")] = "reporting",
    topic_prefix: Annotated[str, typer.Option(help="Topic prefix of the stack (tests use one).")] = "",
    batch_size: Annotated[int, typer.Option(help="Events per transaction while replaying.")] = 5000,
    accept_truncated_history: Annotated[
        bool,
        typer.Option(help="Rebuild even from topics whose beginning was deleted: the events before it are lost."),
    ] = False,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=16,
            help="Processes that replay a large history (200,000 records or more), each with two database"
            " connections. Default: one per core this process may use, at most four.",
        ),
    ] = None,
) -> None:
    """Rebuild reporting's projections from offset zero into fresh tables, then switch them in atomically."""
    database_url = os.environ.get("ZS_DATABASE_URL", config().database_url)
    admin, _ = secure_kafka()
    try:
        result = asyncio.run(
            run_rebuild(
                database_url,
                schema,
                admin,
                topic_prefix,
                batch_size=batch_size,
                accept_truncated_history=accept_truncated_history,
                processes=processes,
            )
        )
    except TruncatedHistory as refused:
        console.print(f"[red]refused:[/red] {refused}")
        raise typer.Exit(2) from refused
    console.print(
        f"rebuilt from {result.records} records in {result.seconds:.1f} s ({result.per_second:,.0f} events/s): "
        f"{result.applied} applied, {result.skipped} unreadable (already dead-lettered), "
        f"{result.ignored} of other types; the previous tables are in schema {result.previous_schema}"
    )
