"""Kafka security on a SASL/SCRAM broker of its own: each principal can do its part and no more.

Services authenticate as themselves; a service cannot write a topic it does not produce; a provider
reads its own topic and not another provider's; a wrong password or no authentication is refused; the
controller listener refuses an anonymous client; the dead-letter redrive reads only the `.dlq` twins and
their topics, writes only those topics, and re-drives no dead letter a consumer forged; no password is
world-readable or in a process's arguments.
"""

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from aiokafka.structs import RecordMetadata
from pydantic import SecretStr

from tests.integration.test_delivery import registered_envelope
from tests.support.builders import intake_body
from tests.support.infra import ROOT, own_broker_env, run_deploy, starts_brokers
from tests.support.kafka import eventually
from tests.support.stack import Namespace, new_namespace, running
from zorgstroom_contracts import Envelope, provider_topic
from zorgstroom_contracts.events import HousingUnitOffered
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_ops import dead_letters
from zorgstroom_ops.kafka_security import apply_grants, read_users, stack_grants
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_runtime.acl import provider_grants, redrive_grants
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics

PORT = int(os.environ.get("ZS_TEST_SASL_KAFKA_PORT", "19592"))
PROVIDER, OTHER_PROVIDER = "12345678", "87654321"
YESTERDAY = date.today() - timedelta(days=1)


KAFKA_DIR = ROOT / ".cache/run/test-sasl/kafka"
USERS = f"admin intake placement housing reporting redrive provider-{PROVIDER} provider-{OTHER_PROVIDER}"


class CommandRecorder:
    """Wrappers, first on PATH, that append each command's arguments to a log and then run the real one."""

    WATCHED = ("java", "nohup", "sed", "awk", "openssl", "od", "head", "tail", "tr", "cat", "grep", "touch",
               "mkdir", "chmod", "rm", "mv", "kill", "sleep", "seq", "dirname", "basename", "mvn")  # fmt: skip

    def __init__(self, directory: Path) -> None:
        self.log = directory / "commands.log"
        self.bin = directory / "bin"
        self.bin.mkdir()
        for name in self.WATCHED:
            real = shutil.which(name)
            if real:
                wrapper = self.bin / name
                wrapper.write_text(
                    f'#!/bin/sh\nprintf "%s " {name} "$@" >> "{self.log}"\necho >> "{self.log}"\nexec {real} "$@"\n'
                )
                wrapper.chmod(0o755)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return env | {"PATH": f"{self.bin}:{env['PATH']}"}

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture(scope="module")
def recorded_commands(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A PATH on which every command kafka.sh runs records its arguments before it runs: what `ps` shows."""
    return CommandRecorder(tmp_path_factory.mktemp("path"))


@pytest.fixture(scope="module")
def secured_kafka(infra, recorded_commands):  # type: ignore[no-untyped-def]
    if not starts_brokers(infra):
        pytest.skip("a SASL broker of its own needs the native start-up")
    env = own_broker_env("test-sasl", PORT, sasl=True, users=USERS)
    run_deploy("kafka.sh", "stop", env)
    shutil.rmtree(KAFKA_DIR, ignore_errors=True)  # formatted afresh: the format step is watched too
    run_deploy("kafka.sh", "start", recorded_commands.env(env))
    yield env, read_users(KAFKA_DIR)
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
    assert set(redrive_grants(ns.prefix)) <= set(grants)
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


async def _send(
    connection: KafkaConnection,
    topic: str,
    value: bytes = b"{}",
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> RecordMetadata:
    producer = AIOKafkaProducer(**connection.options(), enable_idempotence=True, acks="all", request_timeout_ms=5000)
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value, key=key, headers=headers)
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


def ask_the_controller(command_config: Path, logs: Path) -> subprocess.CompletedProcess[str]:
    """An admin call on the controller listener itself (KIP-919): the quorum's status."""
    java = ["java", "-cp", str(ROOT / ".cache/kafka/libs/*"), f"-Dkafka.logs.dir={logs}",
            f"-Dlog4j2.configurationFile={ROOT / 'deploy/kafka/log4j2.properties'}"]  # fmt: skip
    tool = ["org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-controller", f"127.0.0.1:{PORT + 1}",
            "--command-config", str(command_config), "describe", "--status"]  # fmt: skip
    return subprocess.run(java + tool, capture_output=True, text=True, timeout=90)


def test_an_anonymous_client_on_the_controller_listener_is_refused(secured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    anonymous = tmp_path / "anonymous.properties"
    anonymous.write_text("default.api.timeout.ms=8000\nrequest.timeout.ms=4000\n")
    refused = ask_the_controller(anonymous, tmp_path)
    assert refused.returncode != 0 and "LeaderId" not in refused.stdout
    # The controller's own principal is answered: what refused the anonymous client was authentication.
    answered = ask_the_controller(KAFKA_DIR / "controller.properties", tmp_path)
    assert answered.returncode == 0 and "LeaderId:" in answered.stdout, answered.stderr[-2000:]


def unit_offered(prefix: str) -> tuple[str, bytes]:
    """A HousingUnitOffered: housing writes it, and no service of this module runs housing or reads it."""
    event = HousingUnitOffered(
        corporation_id="acl-corporation", unit_id=f"unit-{uuid.uuid4().hex[:8]}", municipality="0034",
        wijk="WK003401", rooms=2, rent_eur=650.0, available_from=YESTERDAY, accessible=False,
    )  # fmt: skip
    envelope = Envelope.wrap(event, producer="housing", region="flevoland")
    return f"{prefix}wmo.housing-unit-offered.v1", envelope.model_dump_json().encode()


async def test_the_redrive_principal_re_drives_and_can_do_nothing_else(ns: Namespace, secured) -> None:  # type: ignore[no-untyped-def]
    admin, redrive = as_user(secured, "admin"), as_user(secured, "redrive")
    topic, value = unit_offered(ns.prefix)
    key = json.loads(value)["data"]["unit_id"].encode()
    original = await _send(admin, topic, value, key=key)
    pointer = [("dlq-source-topic", topic.encode()), ("dlq-source-partition", str(original.partition).encode()),
               ("dlq-source-offset", str(original.offset).encode())]  # fmt: skip
    await _send(admin, topic + ".dlq", value, key=key, headers=pointer)
    done = await dead_letters.replay(redrive, topic + ".dlq", prefix=ns.prefix)
    assert (done.sent, done.refused) == (1, [])
    assert await _read_all(admin, topic) == [value, value]
    # It reads the dead letters and their topics (a dead letter points to its original there), no
    # other topic, and writes no topic without a dead-letter twin (nor the twins).
    await _send(admin, provider_topic(PROVIDER, ns.prefix), b"for the provider")
    assert await _read_all(redrive, provider_topic(PROVIDER, ns.prefix)) == []
    for elsewhere in (provider_topic(PROVIDER, ns.prefix), topic + ".dlq"):
        with pytest.raises(TopicAuthorizationFailedError):
            await _send(redrive, elsewhere, value)


async def test_a_dead_letter_a_consumer_forges_is_not_re_driven(ns: Namespace, secured) -> None:  # type: ignore[no-untyped-def]
    """Reporting may write the `.dlq` twin of every topic it reads, but not what a replay publishes."""
    admin, reporting, redrive = (as_user(secured, user) for user in ("admin", "reporting", "redrive"))
    topic = ns.topic("wmo.client-registered.v1")
    forged = registered_envelope("0034")  # a valid ClientRegistered that intake never wrote
    pointer = [("event-type", b"ClientRegistered"), ("dlq-source-topic", topic.encode()),
               ("dlq-source-partition", b"0"), ("dlq-source-offset", b"0")]  # fmt: skip
    written = forged.model_dump_json().encode()
    await _send(reporting, topic + ".dlq", written, key=forged.data["client_ref"].encode(), headers=pointer)
    done = await dead_letters.replay(redrive, topic + ".dlq", prefix=ns.prefix)
    assert done.sent == 0
    (refused,) = done.refused
    assert refused.reason.startswith(("no original to send: ", f"it differs from the original at {topic}[0]@0"))
    assert written not in await _read_all(admin, topic)


async def test_a_service_cannot_write_into_a_dead_letter_twin_of_a_topic_it_does_not_read(
    ns: Namespace, secured
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(as_user(secured, "intake"), ns.topic("wmo.placement-made.v1.dlq"))


def test_no_password_is_in_a_command_line_or_a_file_others_can_read(secured_kafka, recorded_commands) -> None:  # type: ignore[no-untyped-def]
    """Last in the module: it restarts the broker, with a user named since, after loosening two modes."""
    env, _ = secured_kafka
    run_deploy("kafka.sh", "stop", env)
    (KAFKA_DIR / "server.properties").chmod(0o644)  # as an earlier version of kafka.sh left it
    KAFKA_DIR.chmod(0o755)
    run_deploy("kafka.sh", "start", recorded_commands.env(env | {"ZS_KAFKA_USERS": f"{USERS} provider-11112222"}))
    users = read_users(KAFKA_DIR)
    commands = recorded_commands.lines()
    assert any("@" + str(KAFKA_DIR / "format.args") in c for c in commands)  # the first start's format
    assert any("ConfigCommand" in c and "users" in c and "provider-11112222" in c for c in commands)  # this start's
    assert not [c for c in commands for password in users.values() if password in c]
    broker = Path(f"/proc/{(KAFKA_DIR / 'kafka.pid').read_text().strip()}/cmdline").read_bytes()
    assert b"kafka.Kafka" in broker and not [p for p in users.values() if p.encode() in broker]
    assert not (KAFKA_DIR / "format.args").exists()
    assert KAFKA_DIR.stat().st_mode & 0o777 == 0o700
    for name in ("server.properties", "users.txt", "admin.properties", "controller.properties"):
        assert (KAFKA_DIR / name).stat().st_mode & 0o777 == 0o600, name
    readable = [p for p in KAFKA_DIR.rglob("*") if p.stat().st_mode & 0o077]
    assert readable == []
