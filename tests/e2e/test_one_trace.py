"""End to end: one intake is one trace, read back through the trace backend's own HTTP API (Jaeger's query
API): intake's HTTP span, the outbox relay's publish, and the consumes of placement and reporting."""

import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.builders import intake_body, valid_bsn
from tests.support.infra import ROOT, Infra
from tests.support.kafka import eventually
from tests.support.processes import start_process_stack
from tests.support.stack import Namespace

pytestmark = pytest.mark.e2e

INTAKE, PLACEMENT, REPORTING = "zorgstroom-intake", "zorgstroom-placement", "zorgstroom-reporting"


@dataclass(frozen=True)
class TraceBackend:
    query_url: str  # Jaeger's query API
    otlp_url: str  # OTLP/HTTP, what the services' exporters are pointed at


def free_ports(count: int, start: int = 17000, stop: int = 19000) -> list[int]:
    """`count` consecutive free ports below the ephemeral range (see deploy/common.sh)."""
    for base in range(start, stop, count):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return list(range(base, base + count))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports for the trace backend")


@pytest.fixture(scope="session")
def trace_backend() -> Iterator[TraceBackend]:
    """Jaeger on test ports of its own, started by deploy/jaeger.sh (waiting for a build that `make test`
    may have started in the background) and stopped after the session."""
    query, otlp, grpc, health = free_ports(4)
    env = {
        **os.environ,
        "ZS_INSTANCE": os.environ.get("ZS_TEST_INSTANCE", "test"),
        "ZS_JAEGER_QUERY_PORT": str(query),
        "ZS_JAEGER_OTLP_PORT": str(otlp),
        "ZS_JAEGER_QUERY_GRPC_PORT": str(grpc),
        "ZS_JAEGER_HEALTH_PORT": str(health),
    }
    script = str(ROOT / "deploy" / "jaeger.sh")
    built = subprocess.run([script, "wait-built", "900"], env=env, timeout=960)
    if built.returncode == 3:
        pytest.skip("no Go here: no trace backend (deploy/jaeger.sh)")
    assert built.returncode == 0, "the trace backend could not be built; see .cache/jaeger/build.log"
    subprocess.run([script, "stop"], env=env, check=True, timeout=60)  # one left over by an aborted run
    subprocess.run([script, "start"], env=env, check=True, timeout=120)
    try:
        yield TraceBackend(f"http://127.0.0.1:{query}", f"http://127.0.0.1:{otlp}")
    finally:
        subprocess.run([script, "stop"], env=env, timeout=60)


@pytest.fixture
async def traced_stack(infra: Infra, ns: Namespace, tmp_path: Path, trace_backend: TraceBackend) -> AsyncIterator:  # type: ignore[type-arg]
    base = free_ports(4, 21500, 29000)[0]
    started = await start_process_stack(
        infra.database_url,
        infra.kafka_bootstrap,
        tmp_path / "stack",
        base,
        name="trace",
        prefix=ns.prefix,
        extra_env={
            "ZS_CREDENTIALS_FILE": str(ns.credentials_file),
            "OTEL_EXPORTER_OTLP_ENDPOINT": trace_backend.otlp_url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans reach the backend within a fraction of a second
        },
    )
    try:
        yield started.services
    finally:
        started.stop()


def spans_of(trace: dict) -> list[tuple[str, str, str | None]]:
    """(service, operation, span.kind) of every span of one trace in Jaeger's JSON."""
    processes = trace["processes"]
    return [
        (
            processes[s["processID"]]["serviceName"],
            s["operationName"],
            next((t["value"] for t in s["tags"] if t["key"] == "span.kind"), None),
        )
        for s in trace["spans"]
    ]


@pytest.mark.timeout(1200)  # the first run may wait for (or do) the trace backend's build, minutes on 2 cores
async def test_one_intake_is_one_trace_from_its_http_request_to_the_consumers(
    traced_stack,  # type: ignore[no-untyped-def]
    ns: Namespace,
    trace_backend: TraceBackend,
) -> None:
    registered = ns.topic("wmo.client-registered.v1")
    wanted = {
        (INTAKE, "POST /v1/intakes", "server"),  # the HTTP request
        (INTAKE, f"{registered} publish", "producer"),  # the outbox relay, in intake's process
        (PLACEMENT, f"{registered} process", "consumer"),
        (REPORTING, f"{registered} process", "consumer"),
    }
    bsn = valid_bsn()
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            traced_stack["intake"].url + "/v1/intakes",
            headers=ns.auth("lelystad") | {"Idempotency-Key": f"trace-{uuid.uuid4()}"},
            json=intake_body(
                registering_municipality="0995",
                residence_municipality="0995",
                bsn=bsn,
                registered_on="2026-04-10",
                preferred_municipalities=["0995"],
            ),
        )
        assert answer.status_code == 202, answer.text

        async def search(service: str, operation: str) -> list[dict]:
            found = await http.get(
                f"{trace_backend.query_url}/api/traces",
                params={"service": service, "operation": operation, "lookback": "1h", "limit": 20},
            )
            return (found.json()["data"] or []) if found.status_code == 200 else []

        async def intake_traces() -> list[dict]:
            return await search(INTAKE, "POST /v1/intakes")

        traces = await eventually(
            intake_traces, until=lambda t: len(t) == 1 and wanted <= set(spans_of(t[0])), timeout=60, interval=0.5
        )
        trace_id = traces[0]["traceID"]
        # Read back by id, as `zorgstroom trace` does, and check that no consume went into a trace of its own.
        by_id = (await http.get(f"{trace_backend.query_url}/api/traces/{trace_id}")).json()["data"]
        consumes = [await search(service, f"{registered} process") for service in (PLACEMENT, REPORTING)]

    assert len(by_id) == 1 and wanted <= set(spans_of(by_id[0])), sorted(set(spans_of(by_id[0])))
    assert [[t["traceID"] for t in found] for found in consumes] == [[trace_id], [trace_id]]
    spans = {s["spanID"]: s for s in by_id[0]["spans"]}
    publish = next(s for s in spans.values() if s["operationName"] == f"{registered} publish")
    for service in (PLACEMENT, REPORTING):  # each consume is a child of the publish: the context crossed Kafka
        consume = next(
            s
            for s in spans.values()
            if s["operationName"] == f"{registered} process"
            and by_id[0]["processes"][s["processID"]]["serviceName"] == service
        )
        assert [r["spanID"] for r in consume["references"] if r["refType"] == "CHILD_OF"] == [publish["spanID"]]

    # Privacy (docs/privacy.md): neither the BSN nor the client_ref reaches the trace backend, a log or a
    # metric. Every span of every service, as Jaeger's API returns it, each service's log, each /metrics.
    client_ref = answer.json()["client_ref"]
    # A route whose path carries the client_ref (consent, recorded by the responsible municipality), once as
    # that municipality and once refused, so that the path, the event key and the audit have one to leak.
    async with httpx.AsyncClient(timeout=10) as http:
        path = traced_stack["placement"].url + f"/v1/clients/{client_ref}/consent"
        recorded = await http.put(path, json={"consent_to_share": False}, headers=ns.auth("lelystad"))
        assert recorded.status_code == 200, recorded.text
        refused = await http.put(path, json={"consent_to_share": True}, headers=ns.auth("almere"))
        assert refused.status_code == 403, refused.text

        async def consent_traces() -> list[dict]:
            found = await http.get(
                f"{trace_backend.query_url}/api/traces",
                params={"service": PLACEMENT, "operation": "PUT /v1/clients/{client_ref}/consent", "lookback": "1h"},
            )
            return (found.json()["data"] or []) if found.status_code == 200 else []

        await eventually(consent_traces, until=lambda t: len(t) == 2, timeout=30, interval=0.5)
        exported = []
        for service in (INTAKE, PLACEMENT, "zorgstroom-housing", REPORTING):
            found = await http.get(
                f"{trace_backend.query_url}/api/traces", params={"service": service, "lookback": "1h", "limit": 200}
            )
            exported.append(found.text)
        metrics = [(await http.get(p.url + "/metrics")).text for p in traced_stack.values()]
    logs = [p.log_file.read_text(errors="replace") for p in traced_stack.values()]
    everything = {"spans": "\n".join(exported), "logs": "\n".join(logs), "metrics": "\n".join(metrics)}
    assert sum(text.count('"spanID"') for text in exported) >= len(wanted)  # the scan saw the spans
    for where, text in everything.items():
        assert client_ref not in text, f"client_ref in {where}"
        assert bsn not in text, f"BSN in {where}"
