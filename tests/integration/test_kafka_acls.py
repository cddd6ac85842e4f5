"""Kafka security on a SASL/SCRAM broker of its own: each principal can do its part and no more.

Services authenticate as themselves; a service cannot write a topic it does not produce; a provider
reads its own topic and not another provider's; a wrong password or no authentication is refused.
"""

import asyncio
import json
import os
import time
import uuid
from datetime import date, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from pydantic import SecretStr

from tests.support.builders import intake_body
from tests.support.infra import ROOT, native_env, run_deploy
from tests.support.kafka import eventually
from tests.support.stack import Namespace, new_namespace, running
from zorgstroom_contracts import provider_topic
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_ops.kafka_security import apply_grants, read_users, stack_grants
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_runtime.acl import provider_grants
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics

PORT = int(os.environ.get("ZS_TEST_SASL_KAFKA_PORT", "19592"))
PROVIDER, OTHER_PROVIDER = "12345678", "87654321"
YESTERDAY = date.today() - timedelta(days=1)


@pytest.fixture(scope="module")
def secured_kafka(infra):  # type: ignore[no-untyped-def]
    if infra.how != "native":
        pytest.skip("a SASL broker of its own needs the native start-up")
    env = native_env("test-sasl", PORT, 0) | {
        "ZS_KAFKA_SASL": "1",
        "ZS_KAFKA_USERS": f"admin intake placement housing reporting provider-{PROVIDER} provider-{OTHER_PROVIDER}",
    }
    run_deploy("kafka.sh", "start", env)
    yield env, read_users(ROOT / ".cache/run/test-sasl/kafka")
    run_deploy("kafka.sh", "stop", env)


def as_user(users: dict[str, str], user: str, password: str | None = None) -> KafkaConnection:
    return KafkaConnection(f"127.0.0.1:{PORT}", "SASL_PLAINTEXT", "SCRAM-SHA-512", user, password or users[user])


@pytest.fixture(scope="module")
async def secured_ns(infra, secured_kafka, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One namespace for the module: applying ACLs launches Kafka's AclCommand, seconds a time."""
    env, users = secured_kafka
    ns = await new_namespace(infra, tmp_path_factory.mktemp("acls"), kafka_bootstrap=None)
    names = project_topics(ns.prefix) + [provider_topic(p, ns.prefix) for p in (PROVIDER, OTHER_PROVIDER)]
    await ensure_topics(as_user(users, "admin"), names, partitions=1)
    grants = stack_grants(ns.prefix, ["intake", "placement", "reporting"]) + provider_grants(PROVIDER, ns.prefix)
    await asyncio.to_thread(apply_grants, grants, ROOT, env)
    return ns


@pytest.fixture
def ns(secured_ns):  # type: ignore[no-untyped-def]
    return secured_ns


@pytest.fixture
def secured(secured_kafka):  # type: ignore[no-untyped-def]
    return secured_kafka[1]


def service_settings(ns: Namespace, users: dict[str, str], service: str):  # type: ignore[no-untyped-def]
    return ns.settings(
        service,
        kafka_bootstrap=f"127.0.0.1:{PORT}",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username=service,
        kafka_password=users[service],
    )


async def test_services_do_their_work_as_their_own_principals(ns: Namespace, secured) -> None:  # type: ignore[no-untyped-def]
    users = secured
    async with (
        running(build_intake(service_settings(ns, users, "intake")), "intake") as intake,
        running(build_reporting(service_settings(ns, users, "reporting")), "reporting") as reporting,
    ):
        answer = await intake.post(
            "/v1/intakes",
            json=intake_body(registered_on=YESTERDAY.isoformat()),  # no date after today (DOMAIN.md rule 15)
            headers=ns.auth("almere") | {"Idempotency-Key": f"acl-{uuid.uuid4()}"},
        )
        assert answer.status_code == 202

        async def counted() -> bool:
            flows = await reporting.get(
                f"/v1/municipalities/0034/flows?from={YESTERDAY:%Y-%m}&to={YESTERDAY:%Y-%m}", headers=ns.auth("almere")
            )
            return flows.json()["totals"]["registrations"] == 1

        await eventually(counted, timeout=60)


async def _send(connection: KafkaConnection, topic: str, value: bytes = b"{}") -> None:
    producer = AIOKafkaProducer(**connection.options(), enable_idempotence=True, acks="all", request_timeout_ms=5000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def test_a_service_cannot_write_a_topic_it_does_not_produce(ns: Namespace, secured) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(as_user(secured, "reporting"), ns.topic("wmo.client-registered.v1"))


async def _read_all(connection: KafkaConnection, topic: str) -> list[bytes]:
    """What this principal can read of a topic in a few seconds (an unauthorised read yields nothing)."""
    consumer = AIOKafkaConsumer(
        **connection.options(), enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        values: list[bytes] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 4
        while loop.time() < deadline and not values:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(r.value for r in records)
        return values
    finally:
        await consumer.stop()


async def test_a_provider_reads_its_own_topic_and_nothing_of_another(ns: Namespace, secured) -> None:  # type: ignore[no-untyped-def]
    admin = as_user(secured, "admin")
    for agb in (PROVIDER, OTHER_PROVIDER):
        await _send(admin, provider_topic(agb, ns.prefix), f"for {agb}".encode())
    provider = as_user(secured, f"provider-{PROVIDER}")
    assert await _read_all(provider, provider_topic(PROVIDER, ns.prefix)) == [f"for {PROVIDER}".encode()]
    assert await _read_all(provider, provider_topic(OTHER_PROVIDER, ns.prefix)) == []
    assert await _read_all(admin, provider_topic(OTHER_PROVIDER, ns.prefix)) == [f"for {OTHER_PROVIDER}".encode()]


async def test_a_wrong_password_or_no_authentication_is_refused(secured) -> None:  # type: ignore[no-untyped-def]
    for connection in (as_user(secured, "intake", "not-the-password"), KafkaConnection(f"127.0.0.1:{PORT}")):
        producer = AIOKafkaProducer(**connection.options(), request_timeout_ms=3000)
        try:
            with pytest.raises((KafkaError, asyncio.TimeoutError, ConnectionError)):
                await asyncio.wait_for(producer.start(), 15)
        finally:
            await producer.stop()


def _read_as_provider(users: dict[str, str], agb: str, topic: str, group: str, expect: int) -> list[dict]:  # type: ignore[type-arg]
    """What a provider's own system sees, read with confluent-kafka (librdkafka), not with our code."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": f"127.0.0.1:{PORT}",
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": f"provider-{agb}",
            "sasl.password": users[f"provider-{agb}"],
            "group.id": group,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([topic])
        found: list[dict] = []  # type: ignore[type-arg]
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and len(found) < expect:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None and message.value().startswith(b"{"):
                # (another test of this module put a plain marker on the same topic: not an envelope)
                found.append({"key": message.key(), "value": json.loads(message.value()), "headers": message.headers()})
        return found
    finally:
        consumer.close()


async def test_a_provider_reads_its_placements_with_an_outside_client(ns: Namespace, secured) -> None:  # type: ignore[no-untyped-def]
    users = secured
    facility = {
        "provider_agb": PROVIDER,
        "name": "Illustrative shelter",
        "municipality": "0034",
        "wijk": "WK003401",
        "care_form": "MO_24H",
        "capacity": 3,
        "supported_needs": ["psychiatric", "addiction"],
    }
    async with (
        running(build_intake(service_settings(ns, users, "intake")), "intake") as intake,
        running(build_placement(service_settings(ns, users, "placement")), "placement") as placement,
    ):
        put = await placement.put("/v1/facilities/acl-shelter", json=facility, headers=ns.auth("region"))
        assert put.status_code == 201, put.text
        answer = await intake.post(
            "/v1/intakes",
            json=intake_body(care_form="MO_24H", needs=["psychiatric"], registered_on=YESTERDAY.isoformat()),
            headers=ns.auth("almere") | {"Idempotency-Key": f"acl-{uuid.uuid4()}"},
        )
        client_ref = answer.json()["client_ref"]
        topic = provider_topic(PROVIDER, ns.prefix)
        seen = await asyncio.to_thread(
            _read_as_provider, users, PROVIDER, topic, f"{ns.prefix}provider-{PROVIDER}-ehr", 2
        )
    # (the module's earlier intake waited on the list too: it may have taken the first place)
    placed = [m for m in seen if m["value"]["event_type"] == "PlacementMade" and m["key"] == client_ref.encode()]
    assert placed
    assert placed[0]["value"]["data"]["facility_id"] == "acl-shelter" and placed[0]["value"]["data"]["unit"] == "14"
    assert ("event-type", b"PlacementMade") in placed[0]["headers"]


async def test_readiness_says_when_kafka_refuses_the_service_credentials(ns: Namespace, secured) -> None:  # type: ignore[no-untyped-def]
    right = service_settings(ns, secured, "intake")
    wrong = right.model_copy(update={"kafka_password": SecretStr("not-the-password")})
    async with running(build_intake(right), "intake") as good:
        ready = await good.get("/readyz")
    async with running(build_intake(wrong), "intake") as bad:
        refused = await bad.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["kafka"] is True
    assert refused.status_code == 503 and refused.json()["checks"]["kafka"] is False  # the port itself is open
