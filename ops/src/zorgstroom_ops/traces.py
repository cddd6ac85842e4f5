"""Read one intake's trace back from the trace backend (Jaeger's query API) for the demo."""

import time
from dataclasses import dataclass

import httpx


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
                params={"service": "zorgstroom-intake", "operation": "POST /v1/intakes", "limit": 5},
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
