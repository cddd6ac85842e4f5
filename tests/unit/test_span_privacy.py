"""No client_ref leaves a service in a span attribute or a metric label (issue 14, section 3).

Placement's real app (built without its lifespan: no database or broker) serves the transfer route,
whose path holds a client_ref; FastStream's own telemetry middleware, on its in-memory test broker,
records a Kafka record keyed by a client_ref. Every span then goes through the provider that
setup_telemetry makes, into an in-memory exporter, as it would into Jaeger.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.stack import write_credentials
from zorgstroom_placement.bootstrap import build
from zorgstroom_runtime.settings import ServiceSettings
from zorgstroom_runtime.telemetry import redact_client_refs, setup_telemetry

SPANS = InMemorySpanExporter()
setup_telemetry("tests", extra_processors=[SimpleSpanProcessor(SPANS)])

CLIENT_REF = "ab12" * 16  # the shape of a real one: HMAC-SHA256 in hex
HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@pytest.fixture(autouse=True)
def fresh_spans() -> Iterator[None]:
    SPANS.clear()
    yield
    SPANS.clear()


@pytest.fixture(scope="module")
def placement(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, str]]:
    credentials_file, tokens = write_credentials(Path(tmp_path_factory.mktemp("credentials")))
    settings = ServiceSettings(
        service_name="placement", environment="test", credentials_file=credentials_file, _env_file=None
    )
    # No lifespan, so a handler that needs the database answers 500: the spans are recorded all the same.
    return TestClient(build(settings), raise_server_exceptions=False), tokens


def leaks(spans: tuple[ReadableSpan, ...]) -> list[str]:
    """Every place a 64-hex string survived: a span's name, an attribute (text or bytes) or an event's."""
    found = []
    for span in spans:
        texts = [("name", span.name)]
        texts += [(key, str(value)) for key, value in (span.attributes or {}).items()]
        texts += [(f"event {e.name}: {k}", str(v)) for e in span.events for k, v in (e.attributes or {}).items()]
        found += [f"{span.name} / {key}: {text}" for key, text in texts if HEX64.search(text)]
    return found


def test_the_transfer_route_records_its_template_not_the_client_ref(
    placement: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = placement
    body = {"to_municipality": "0995", "reason": "verhuizing", "effective_on": "2026-12-01"}
    client.post(
        f"/v1/clients/{CLIENT_REF}/transfer", json=body, headers={"Authorization": f"Bearer {tokens['almere']}"}
    )
    spans = SPANS.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    assert server, "the FastAPI instrumentation recorded no server span"
    attributes = server[0].attributes or {}
    assert attributes.get("http.route") == "/v1/clients/{client_ref}/transfer"
    paths = [attributes.get(key) for key in ("http.target", "url.path") if key in attributes]
    assert paths and all(path == "/v1/clients/{client_ref}/transfer" for path in paths), attributes
    if "http.url" in attributes:
        assert str(attributes["http.url"]).endswith("/v1/clients/{client_ref}/transfer")
    assert leaks(spans) == []


def test_an_unknown_path_with_a_client_ref_is_redacted_too(placement: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = placement
    assert client.get(f"/v1/clients/{CLIENT_REF}/nothing-here?ref={CLIENT_REF}").status_code == 404
    assert SPANS.get_finished_spans() and leaks(SPANS.get_finished_spans()) == []


def test_metrics_label_the_route_template_not_the_client_ref(placement: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = placement
    # Unauthenticated, so each request is answered (401, 404) and counted without a database.
    assert client.put(f"/v1/clients/{CLIENT_REF}/consent", json={}).status_code == 401
    assert client.post(f"/v1/clients/{CLIENT_REF}/transfer", json={}).status_code == 401
    assert client.get(f"/v1/clients/{CLIENT_REF}/nothing-here").status_code == 404
    text = client.get("/metrics").text
    assert 'route="/v1/clients/{client_ref}/consent"' in text
    assert 'route="/v1/clients/{client_ref}/transfer"' in text
    assert HEX64.search(text) is None


async def test_kafka_spans_do_not_carry_the_record_key() -> None:
    broker = KafkaBroker(middlewares=(KafkaTelemetryMiddleware(),))
    received: list[dict[str, str]] = []

    @broker.subscriber("wmo.span-privacy.v1")
    async def handle(body: dict[str, str]) -> None:
        received.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish({"client_ref": "kept out of spans"}, "wmo.span-privacy.v1", key=CLIENT_REF.encode())
    assert received == [{"client_ref": "kept out of spans"}]
    spans = SPANS.get_finished_spans()
    assert {s.kind.name for s in spans} >= {"PRODUCER", "CONSUMER"}
    assert all("messaging.kafka.message.key" not in (s.attributes or {}) for s in spans)
    assert leaks(spans) == []


def test_redaction_replaces_only_a_whole_64_hex_run() -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"  # 32 hex: a trace id stays readable
    assert redact_client_refs(f"/v1/clients/{CLIENT_REF}/transfer") == "/v1/clients/{client_ref}/transfer"
    assert redact_client_refs(f"traceparent 00-{trace_id}-b7ad6b7169203331-01") == (
        f"traceparent 00-{trace_id}-b7ad6b7169203331-01"
    )
    assert redact_client_refs("f" * 65) == "f" * 65  # not a client_ref: a longer run is some other value
