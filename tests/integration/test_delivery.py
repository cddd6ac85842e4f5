"""Delivery guarantees on real Kafka and Postgres: once applied, dead letters, one trace."""

import json
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.test_reporting_numbers import reporting_app as build_reporting
from tests.support.builders import intake_body
from tests.support.kafka import eventually, produce, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_runtime.telemetry import setup_telemetry

SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _in_memory_traces() -> None:
    setup_telemetry("tests", extra_processors=[SimpleSpanProcessor(SPANS)])


def registered_envelope(municipality: str = "0184", registered_on: str = "2027-05-20") -> Envelope:
    body = intake_body(registering_municipality=municipality, registered_on=registered_on)
    event = ClientRegistered(
        intake_id=str(uuid.uuid4()),
        client_ref=uuid.uuid4().hex * 2,
        registering_municipality=municipality,
        responsible_municipality=municipality,
        care_form=body["care_form"],
        needs=body["needs"],
        urgency=body["urgency"],
        household=body["household"],
        preferred_municipalities=[],
        registered_on=body["registered_on"],
    )
    return Envelope.wrap(event, producer="test", region="flevoland")


def message(envelope: Envelope) -> tuple[bytes, bytes, list]:
    return (
        envelope.data["client_ref"].encode(),
        envelope.model_dump_json().encode(),
        [("event-type", envelope.event_type.encode())],
    )


async def registrations(reporting, ns: Namespace, municipality: str, month: str) -> int:  # type: ignore[no-untyped-def]
    answer = await reporting.get(
        f"/v1/municipalities/{municipality}/flows?from={month}&to={month}", headers=ns.auth_of(municipality)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["totals"]["registrations"]


async def test_second_delivery_of_an_event_changes_nothing(ns: Namespace) -> None:
    twice, marker = registered_envelope(registered_on="2027-05-20"), registered_envelope(registered_on="2027-08-01")
    key = twice.data["client_ref"].encode()  # one key, one partition: the marker comes after both copies
    topic = ns.topic("wmo.client-registered.v1")
    await produce(
        ns.infra.kafka_bootstrap,
        topic,
        [
            (key, message(twice)[1], []),
            (key, message(twice)[1], []),
            (key, message(marker)[1], []),
        ],
    )
    async with running(build_reporting(ns.settings("reporting")), "reporting") as reporting:
        await eventually(lambda: registrations(reporting, ns, "0184", "2027-08"), until=lambda n: n == 1)
        assert await registrations(reporting, ns, "0184", "2027-05") == 1


async def test_a_malformed_message_is_dead_lettered_and_the_next_one_is_applied(ns: Namespace) -> None:
    topic = ns.topic("wmo.client-registered.v1")
    after = registered_envelope(municipality="0050", registered_on="2027-06-01")
    broken_data = registered_envelope().model_dump(mode="json")
    broken_data["data"]["registered_on"] = "long ago"
    same_key = after.data["client_ref"].encode()  # same partition: the bad one really is in front
    await produce(
        ns.infra.kafka_bootstrap,
        topic,
        [
            (same_key, b"this is not json", []),
            (same_key, json.dumps(broken_data).encode(), []),
            message(after),
        ],
    )
    async with running(build_reporting(ns.settings("reporting")), "reporting") as reporting:
        await eventually(lambda: registrations(reporting, ns, "0050", "2027-06"), until=lambda n: n == 1)
        dead = await read_topic(ns.infra.kafka_bootstrap, topic + ".dlq", at_least=2)
    assert [d.value for d in dead][:1] == [b"this is not json"]
    reasons = [dict(d.headers)["dlq-reason"].decode() for d in dead]
    assert reasons[0].startswith("not a valid envelope")
    assert "ClientRegistered v2 data invalid" in reasons[1] and "registered_on" in reasons[1]
    assert dict(dead[0].headers)["dlq-source-topic"].decode() == topic


async def test_a_header_that_is_not_utf8_neither_stalls_the_poll_nor_is_lost(ns: Namespace) -> None:
    """FastStream's batch parser decodes every header as text; reporting's consumer must not stall on one
    that is not, and a dead letter keeps the record's own headers, byte for byte."""
    topic = ns.topic("wmo.client-registered.v1")
    odd = registered_envelope(municipality="0303", registered_on="2027-07-01")
    after = registered_envelope(municipality="0303", registered_on="2027-07-02")
    key = odd.data["client_ref"].encode()
    await produce(
        ns.infra.kafka_bootstrap,
        topic,
        [
            (key, odd.model_dump_json().encode(), [("x-legacy", b"\xff\xfe latin-1 \xe9")]),
            (key, b"not json either", [("x-legacy", b"\xff")]),
            message(after),
        ],
    )
    async with running(build_reporting(ns.settings("reporting")), "reporting") as reporting:
        await eventually(lambda: registrations(reporting, ns, "0303", "2027-07"), until=lambda n: n == 2)
        (dead,) = await read_topic(ns.infra.kafka_bootstrap, topic + ".dlq", at_least=1)
    assert dead.value == b"not json either" and dict(dead.headers)["x-legacy"] == b"\xff"


WRITE_VERBS = ("INSERT", "UPDATE", "WITH")


async def test_one_intake_is_one_trace_from_http_to_the_reporting_consumer(ns: Namespace) -> None:
    SPANS.clear()
    async with (
        running(build_intake(ns.settings("intake")), "intake") as intake,
        running(build_reporting(ns.settings("reporting")), "reporting") as reporting,
    ):
        answer = await intake.post(
            "/v1/intakes",
            json=intake_body(registered_on="2026-07-07"),
            headers=ns.auth("almere") | {"Idempotency-Key": f"trace-{uuid.uuid4()}"},
        )
        assert answer.status_code == 202
        await eventually(lambda: registrations(reporting, ns, "0034", "2026-07"), until=lambda n: n == 1)
    topic = ns.topic("wmo.client-registered.v1")
    spans = SPANS.get_finished_spans()
    http = next(s for s in spans if s.kind == trace.SpanKind.SERVER and "/v1/intakes" in s.name)
    publish = next(s for s in spans if s.name == f"{topic} publish")
    consume = next(s for s in spans if s.name == f"{topic} process")
    assert http.context.trace_id == publish.context.trace_id == consume.context.trace_id
    assert consume.parent is not None and consume.parent.span_id == publish.context.span_id
    # Intake writes a registration as one statement (WITH ... INSERT ...: the key, the intake, its audit line and
    # its outbox row), so a write is a span named for its first keyword.
    writes = [s for s in spans if s.context.trace_id == http.context.trace_id and s.name.split()[0] in WRITE_VERBS]
    assert writes, "the database write of the intake belongs to the same trace"
