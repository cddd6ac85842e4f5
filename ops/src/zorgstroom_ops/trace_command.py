"""`zorgstroom trace <intake_id|trace_id>`: one trace from the trace backend as a span waterfall.

Registered in cli.py with `app.command()(trace)`.
"""

import asyncio
import sys
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from zorgstroom_ops.config import config
from zorgstroom_ops.traces import (
    INTAKE_ID_ATTRIBUTE,
    SpanRow,
    Trace,
    bar,
    format_us,
    is_intake_id,
    is_trace_id,
    search_intake_trace,
    trace_id_from_audit_log,
    trace_span_us,
    wait_for_trace,
    waterfall_rows,
)

_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")


def _label(row: SpanRow) -> Text:
    label = Text(row.prefix, style="dim")
    label.append(row.operation, style="bold red" if row.error else "")
    if row.kind and row.kind not in ("internal", "server"):
        label.append(f" [{row.kind}]", style="dim")
    return label


def render_waterfall(rows: list[SpanRow], trace_id: str, console: Console, bar_width: int | None = None) -> None:
    """The spans as a tree (by parent) with service, operation, start offset, duration and a bar scaled to
    the whole trace."""
    total = trace_span_us(rows)
    services = sorted({r.service for r in rows})
    names = {s: s.removeprefix("zorgstroom-") for s in services}  # the header names them in full
    colour = {s: _COLOURS[i % len(_COLOURS)] for i, s in enumerate(services)}
    labels = [_label(row) for row in rows]
    starts = [format_us(row.start_us) for row in rows]
    durations = [format_us(row.duration_us) for row in rows]
    widths = {
        "span": max([len("span"), *(len(label) for label in labels)]),
        "service": max(len(x) for x in ["service", *names.values()]),
        "start": max(len(x) for x in ["start", *starts]),
        "duration": max(len(x) for x in ["duration", *durations]),
    }
    gaps = 2 * len(widths)  # one space each side of every inner column edge
    others = widths["service"] + widths["start"] + widths["duration"] + gaps
    if bar_width is None:  # what the other columns leave of the line; below 40 cells, span names give way first
        bar_width = min(100, console.width - others - widths["span"])
        if bar_width < 40:
            bar_width = max(12, min(40, console.width - others - min(widths["span"], 40)))
    span_width = max(12, min(widths["span"], console.width - others - bar_width))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("span", no_wrap=True, overflow="ellipsis", max_width=span_width)
    table.add_column("service", no_wrap=True, min_width=widths["service"])
    table.add_column("start", justify="right", no_wrap=True, min_width=widths["start"])
    table.add_column("duration", justify="right", no_wrap=True, min_width=widths["duration"])
    table.add_column(f"0 … {format_us(total)}", no_wrap=True, min_width=bar_width)
    for row, label, start, duration in zip(rows, labels, starts, durations, strict=True):
        style = colour[row.service]
        table.add_row(
            label,
            Text(names[row.service], style=style),
            start,
            duration,
            Text(bar(row.start_us, row.duration_us, total, bar_width), style=style),
        )
    plural = "service" if len(services) == 1 else "services"
    console.print(
        f"[bold]trace {trace_id}[/bold]: {len(rows)} spans across {len(services)} {plural} "
        f"({', '.join(services)}), {format_us(total)}"
    )
    console.print(table)


def _find(ref: str, query_url: str, database_url: str, wait: float) -> tuple[Trace | None, str]:
    """The trace `ref` names, and how it was looked for (for the message when it is not found)."""
    if is_trace_id(ref):
        return wait_for_trace(query_url, ref, timeout=wait), f"no trace {ref} in {query_url}"
    if not is_intake_id(ref):
        raise typer.BadParameter("give a trace id (32 hex digits) or an intake id (a UUID)", param_hint="REF")
    found = search_intake_trace(query_url, ref.lower())
    if found is not None:  # the search's copy may predate the consumers' spans: read it again, complete
        return wait_for_trace(query_url, found["traceID"], timeout=wait) or found, ""
    try:
        trace_id = asyncio.run(trace_id_from_audit_log(database_url, ref.lower()))
    except Exception as error:  # no database at hand: the tag search was all there is
        return None, f"no span with {INTAKE_ID_ATTRIBUTE}={ref} in {query_url}; audit log not readable ({error})"
    if trace_id is None:
        return None, f"no span with {INTAKE_ID_ATTRIBUTE}={ref} in {query_url}, nor a registration in the audit log"
    return wait_for_trace(query_url, trace_id, timeout=wait), f"intake {ref} has trace {trace_id}, not in {query_url}"


def trace(
    ref: Annotated[str, typer.Argument(help="A trace id (32 hex digits) or an intake id (UUID).", metavar="REF")],
    query_url: Annotated[
        str | None,
        typer.Option(help="The trace backend's query API (default: the demo's Jaeger).", envvar="ZS_JAEGER_QUERY_URL"),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Where intake's audit log is, to map an intake id to its trace id.")
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for late spans to arrive.")] = 5.0,
    width: Annotated[int | None, typer.Option(help="Width of the duration bars in cells.")] = None,
) -> None:
    """One intake's trace (or any trace) as a span waterfall: the tree of spans, their services, when each
    started and how long it took."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    query_url = query_url or config().jaeger_query
    database_url = database_url or config().database_url
    try:
        found, why = _find(ref.strip(), query_url.rstrip("/"), database_url, wait)
    except httpx.HTTPError as error:
        console.print(f"[red]trace backend not reachable at {query_url}: {error}[/red]")
        raise typer.Exit(2) from error
    if found is None:
        console.print(f"[red]{why}[/red]")
        raise typer.Exit(1)
    render_waterfall(waterfall_rows(found), found["traceID"], console, width)
