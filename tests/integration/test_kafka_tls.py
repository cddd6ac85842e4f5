"""Kafka over TLS (SASL_SSL) on a broker of its own, its certificate signed by the CA under .cache/tls.

Our services and an outside client (confluent-kafka, librdkafka) work over it when they trust that CA; a
client that does not trust it, or one that speaks SASL without TLS, gets nothing.
"""

import asyncio
import os
import time
import uuid
from datetime import date, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tests.support.builders import intake_body
from tests.support.infra import ROOT, broker_of_its_own
from tests.support.kafka import eventually
from tests.support.stack import Namespace, new_namespace, running
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_ops.kafka_security import apply_grants, read_users, stack_grants
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics

PORT = int(os.environ.get("ZS_TEST_TLS_KAFKA_PORT", "19692"))
CA_FILE = ROOT / ".cache/tls/ca.pem"
YESTERDAY = date.today() - timedelta(days=1)


@pytest.fixture(scope="module")
def tls_kafka(infra):  # type: ignore[no-untyped-def]
    with broker_of_its_own(infra, "test-tls", PORT, tls=True) as (env, _):
        yield env, read_users(ROOT / ".cache/run/test-tls/kafka")


def as_user(users: dict[str, str], user: str, ca_file: str | None = str(CA_FILE)) -> KafkaConnection:
    return KafkaConnection(f"127.0.0.1:{PORT}", "SASL_SSL", "SCRAM-SHA-512", user, users[user], ca_file)


@pytest.fixture(scope="module")
async def tls_ns(infra, tls_kafka, tmp_path_factory):  # type: ignore[no-untyped-def]
    env, users = tls_kafka
    ns = await new_namespace(infra, tmp_path_factory.mktemp("tls"), kafka_bootstrap=None)
    await ensure_topics(as_user(users, "admin"), project_topics(ns.prefix), partitions=1)
    # Kafka's own AclCommand reaches the broker over TLS too (the admin's properties name the CA).
    await asyncio.to_thread(apply_grants, stack_grants(ns.prefix, ["intake", "reporting"]), ROOT, env)
    return ns


async def test_services_work_over_tls_trusting_the_projects_ca(tls_ns: Namespace, tls_kafka) -> None:  # type: ignore[no-untyped-def]
    _, users = tls_kafka

    def settings(service: str):  # type: ignore[no-untyped-def]
        return tls_ns.settings(
            service,
            kafka_bootstrap=f"127.0.0.1:{PORT}",
            kafka_security_protocol="SASL_SSL",
            kafka_ca_file=CA_FILE,
            kafka_username=service,
            kafka_password=users[service],
        )

    async with (
        running(build_intake(settings("intake")), "intake") as intake,
        running(build_reporting(settings("reporting")), "reporting") as reporting,
    ):
        answer = await intake.post(
            "/v1/intakes",
            json=intake_body(registered_on=YESTERDAY.isoformat()),
            headers=tls_ns.auth("almere") | {"Idempotency-Key": f"tls-{uuid.uuid4()}"},
        )
        assert answer.status_code == 202

        async def counted() -> bool:  # intake's relay produced it, reporting's consumer read it: both over TLS
            flows = await reporting.get(
                f"/v1/municipalities/0034/flows?from={YESTERDAY:%Y-%m}&to={YESTERDAY:%Y-%m}",
                headers=tls_ns.auth("almere"),
            )
            return flows.json()["totals"]["registrations"] == 1

        await eventually(counted, timeout=60)


def outside_client(users: dict[str, str], **extra: str) -> dict[str, str]:
    """librdkafka's configuration, as a provider's or corporation's own system would write it."""
    return {
        "bootstrap.servers": f"127.0.0.1:{PORT}",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": users["admin"],
    } | extra


def test_an_outside_client_produces_and_consumes_over_tls_with_the_ca(tls_ns: Namespace, tls_kafka) -> None:  # type: ignore[no-untyped-def]
    from confluent_kafka import Consumer, Producer

    _, users = tls_kafka
    topic, value = tls_ns.topic("wmo.housing-unit-offered.v1"), f"over tls {uuid.uuid4()}".encode()
    trusting = {"ssl.ca.location": str(CA_FILE)}
    producer = Producer(outside_client(users, **trusting))
    producer.produce(topic, value)
    assert producer.flush(30) == 0
    consumer = Consumer(
        outside_client(users, **trusting, **{"group.id": f"tls-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    )
    try:
        consumer.subscribe([topic])
        seen: list[bytes] = []
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and value not in seen:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                seen.append(message.value())
        assert value in seen
    finally:
        consumer.close()


def test_an_outside_client_that_does_not_trust_the_ca_gets_nothing(tls_kafka) -> None:  # type: ignore[no-untyped-def]
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    _, users = tls_kafka
    system_trust_only = AdminClient(outside_client(users))  # no ssl.ca.location: the system's CAs only
    with pytest.raises(KafkaException):
        system_trust_only.list_topics(timeout=10)
    trusting = AdminClient(outside_client(users, **{"ssl.ca.location": str(CA_FILE)}))
    assert trusting.list_topics(timeout=30).brokers  # the same client, trusting the CA, is answered


async def test_our_client_that_does_not_trust_the_ca_or_skips_tls_is_refused(tls_kafka) -> None:  # type: ignore[no-untyped-def]
    _, users = tls_kafka
    plain = KafkaConnection(f"127.0.0.1:{PORT}", "SASL_PLAINTEXT", "SCRAM-SHA-512", "admin", users["admin"])
    for connection in (as_user(users, "admin", ca_file=None), plain):
        producer = AIOKafkaProducer(**connection.options(), request_timeout_ms=3000)
        try:
            with pytest.raises((KafkaError, asyncio.TimeoutError, ConnectionError, OSError)):
                await asyncio.wait_for(producer.start(), 15)
        finally:
            await producer.stop()
    trusting = AIOKafkaProducer(**as_user(users, "admin").options(), request_timeout_ms=3000)
    await asyncio.wait_for(trusting.start(), 30)  # the control: trusting the CA, the same start succeeds
    await trusting.stop()
