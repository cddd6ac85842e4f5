"""Read traces back from the trace backend (Jaeger's query API): the demo's summary of one intake's trace,
and `zorgstroom trace`'s span waterfall of one trace, found by trace id or by intake id."""

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

# The span attribute that carries an intake's id (on intake's POST /v1/intakes server span).
INTAKE_ID_ATTRIBUTE = "zorgstroom.intake_id"
INTAKE_SERVICE = "zorgstroom-intake"
_TRACE_ID = re.compile(r"^(?:[0-9a-f]{16}|[0-9a-f]{32})$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

Trace = dict[str, Any]  # one element of the `data` list of Jaeger's /api/traces answers


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    spans: int
    services: list[str]
    url: str


def latest_intake_trace(query_url: str, timeout: float = 12.0) -> TraceSummary | None:
    """The newest trace that began with POST /v1/intakes, once spans of its consumers have arrived."""
    deadline = time.monotonic() + timeout
    best: TraceSummary | None = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(
                f"{query_url}/api/traces",
                params={"service": INTAKE_SERVICE, "operation": "POST /v1/intakes", "limit": 5},
                timeout=5,
            )
            for trace in answer.json().get("data") or []:
                services = sorted({p["serviceName"] for p in trace["processes"].values()})
                summary = TraceSummary(
                    trace["traceID"], len(trace["spans"]), services, f"{query_url}/api/traces/{trace['traceID']}"
                )
                if best is None or len(summary.services) > len(best.services):
                    best = summary
            if best is not None and len(best.services) >= 3:
                return best
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(1)
    return best


# --- finding one trace ---------------------------------------------------------------------------------


def is_trace_id(ref: str) -> bool:
    return bool(_TRACE_ID.match(ref.lower()))


def is_intake_id(ref: str) -> bool:
    return bool(_UUID.match(ref.lower()))


def get_trace(query_url: str, trace_id: str, *, timeout: float = 5.0) -> Trace | None:
    """One trace by id, or None when the backend does not (yet) have it."""
    answer = httpx.get(f"{query_url}/api/traces/{trace_id.lower()}", timeout=timeout)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    traces = answer.json().get("data") or []
    return traces[0] if traces else None


def search_intake_trace(
    query_url: str, intake_id: str, *, lookback: str = "168h", timeout: float = 5.0
) -> Trace | None:
    """The trace whose intake span carries `zorgstroom.intake_id = intake_id` (Jaeger's tag search)."""
    answer = httpx.get(
        f"{query_url}/api/traces",
        params={
            "service": INTAKE_SERVICE,
            "tags": json.dumps({INTAKE_ID_ATTRIBUTE: intake_id}),
            "lookback": lookback,
            "limit": 1,
        },
        timeout=timeout,
    )
    answer.raise_for_status()
    traces = answer.json().get("data") or []
    return traces[0] if traces else None


async def trace_id_from_audit_log(database_url: str, intake_id: str) -> str | None:
    """Intake's audit log keeps the trace id of each registration as its correlation id: a way from an
    intake id to its trace that works even where no span carries the intake id."""
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        value = await conn.fetchval(
            "SELECT correlation_id FROM intake.audit_log WHERE action = 'intake.register' AND subject = $1"
            " ORDER BY id LIMIT 1",
            intake_id,
        )
    finally:
        await conn.close()
    return str(value) if value else None


def wait_for_trace(
    query_url: str, trace_id: str, *, timeout: float = 10.0, settle: float = 2.0, poll: float = 0.5
) -> Trace | None:
    """The trace once its span count has stopped growing for `settle` seconds (spans arrive in batches from
    several processes), or what there is at `timeout`; None if it never appeared."""
    deadline = time.monotonic() + timeout
    found: Trace | None = None
    stable_since = time.monotonic()
    while True:
        try:
            latest = get_trace(query_url, trace_id)
        except (httpx.HTTPError, ValueError):
            latest = None
        if latest is not None and (found is None or len(latest["spans"]) != len(found["spans"])):
            found, stable_since = latest, time.monotonic()
        now = time.monotonic()
        if (found is not None and now - stable_since >= settle) or now >= deadline:
            return found
        time.sleep(poll)


# --- the waterfall ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanRow:
    """One line of the waterfall: a span, its place in the tree, and its time relative to the trace."""

    span_id: str
    parent_id: str | None  # None for a root (or a span whose parent is not in the trace)
    depth: int
    prefix: str  # the tree's guide lines before the operation, e.g. "│  ├─ "
    service: str
    operation: str
    kind: str | None  # server, client, producer, consumer, internal
    start_us: int  # from the start of the trace
    duration_us: int
    error: bool


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t.get("value") for t in span.get("tags") or []}


def _parent(span: dict[str, Any], in_trace: set[str]) -> str | None:
    references = span.get("references") or []
    for ref_type in ("CHILD_OF", "FOLLOWS_FROM"):
        for ref in references:
            if ref.get("refType") == ref_type and ref.get("spanID") in in_trace and ref["spanID"] != span["spanID"]:
                return str(ref["spanID"])
    return None


def waterfall_rows(trace: Trace) -> list[SpanRow]:
    """Jaeger's JSON of one trace (an element of `data`, or the whole answer) as waterfall rows: depth-first
    by parent, siblings by start time, times in microseconds from the trace's first span."""
    if "data" in trace:
        traces = trace["data"] or []
        if not traces:
            return []
        trace = traces[0]
    spans: list[dict[str, Any]] = trace.get("spans") or []
    if not spans:
        return []
    processes = trace.get("processes") or {}
    ids = {s["spanID"] for s in spans}
    parent_of = {s["spanID"]: _parent(s, ids) for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: (s["startTime"], s["spanID"])):
        children.setdefault(parent_of[span["spanID"]], []).append(span)
    t0 = min(s["startTime"] for s in spans)
    rows: list[SpanRow] = []

    def visit(span: dict[str, Any], depth: int, guides: str, last: bool) -> None:
        tags = _tags(span)
        process = span.get("process") or processes.get(span.get("processID"), {})
        prefix = "" if depth == 0 else guides + ("└─ " if last else "├─ ")
        rows.append(
            SpanRow(
                span_id=span["spanID"],
                parent_id=parent_of[span["spanID"]],
                depth=depth,
                prefix=prefix,
                service=process.get("serviceName", "?"),
                operation=span.get("operationName", ""),
                kind=tags.get("span.kind"),
                start_us=int(span["startTime"]) - t0,
                duration_us=int(span.get("duration", 0)),
                error=tags.get("error") in (True, "true") or tags.get("otel.status_code") == "ERROR",
            )
        )
        below = children.get(span["spanID"], [])
        next_guides = "" if depth == 0 else guides + ("   " if last else "│  ")
        for i, child in enumerate(below):
            visit(child, depth + 1, next_guides, i == len(below) - 1)

    seen_roots = children.get(None, [])
    for root in seen_roots:
        visit(root, 0, "", True)
    return rows


def trace_span_us(rows: list[SpanRow]) -> int:
    """From the first span's start to the last span's end."""
    return max((r.start_us + r.duration_us for r in rows), default=0)


def bar(start_us: int, duration_us: int, total_us: int, width: int) -> str:
    """The span's place on a line of `width` cells scaled to the trace; at least one cell wide."""
    if width <= 0:
        return ""
    total = max(total_us, 1)
    begin = min(width - 1, start_us * width // total)
    end = max(begin + 1, min(width, -(-(start_us + duration_us) * width // total)))
    return " " * begin + "█" * (end - begin) + " " * (width - end)


def format_us(us: int) -> str:
    if us < 1000:
        return f"{us}µs"
    if us < 1_000_000:
        return f"{us / 1000:.1f}ms"
    return f"{us / 1_000_000:.2f}s"
