"""End to end: a new provider onboarded in one command on a running stack, then working with what it was given.

`zorgstroom onboard provider` (onboard_command.onboard) against the session's Keycloak and a SASL broker with
ACLs of this module's own, while the four services run as their own Kafka principals and trust the issuers
file the command rewrites: the provider's new client registers its facility, a municipality's intake is
placed there, the provider assesses that placement with its new credentials, reads its own topic with its new
Kafka principal through confluent-kafka (an outside client, as a provider's own system would be), and is
refused another provider's topic. The services are not restarted: they read the issuers file again.

Keycloak is the session's (tests/support/keycloak.py); the broker listens on ZS_TEST_ONBOARD_KAFKA_PORT
(default 19892, its controller the port after), the services on the session's SERVICE_BASE_PORT."""

import asyncio
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.builders import FACILITY, intake_body
from tests.support.infra import ROOT, Infra, own_broker_env, run_deploy, starts_brokers
from tests.support.keycloak import REPORTING_PORT, SERVICE_BASE_PORT, Keycloak
from tests.support.processes import start_process_stack
from zorgstroom_contracts import provider_topic
from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_ops import onboard_command
from zorgstroom_ops.client_credentials import ClientCredentials
from zorgstroom_ops.demo_data import load_demo_data
from zorgstroom_ops.kafka_security import DEFINITIONS, read_users, service_kafka_env
from zorgstroom_runtime.acl import AclGrant, service_grants
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics
from zorgstroom_runtime.region import load_region

pytestmark = pytest.mark.e2e

PORT = int(os.environ.get("ZS_TEST_ONBOARD_KAFKA_PORT", "19892"))
INSTANCE = "test-onboard"
KAFKA_DIR = Path(os.environ.get("ZS_CACHE", ROOT / ".cache")) / "run" / INSTANCE / "kafka"
NEW_PROVIDER = "20000066"  # no provider of the demo's data
OTHER_PROVIDER = "10000011"  # one of the demo's


@pytest.fixture(scope="module")
def broker(infra: Infra) -> Iterator[dict[str, str]]:
    """A SCRAM broker with ACLs, formatted afresh: the services' and the redrive's users, no provider's."""
    if not starts_brokers(infra):
        pytest.skip("a SASL broker of its own needs the native start-up (or ZS_TEST_OWN_BROKERS=1)")
    env = own_broker_env(INSTANCE, PORT, sasl=True)
    run_deploy("kafka.sh", "stop", env)
    shutil.rmtree(KAFKA_DIR, ignore_errors=True)
    run_deploy("kafka.sh", "start", env)
    try:
        yield env
    finally:
        run_deploy("kafka.sh", "stop", env)


def grant_services(admin: KafkaConnection, prefix: str) -> None:
    """The services' ACLs (runtime acl.service_grants), through Kafka's admin API in one call: what
    deploy/kafka.sh's AclCommand does, without a JVM a grant (sixteen of them take minutes on a busy machine).
    The provider's grants are onboarding's own, through kafka.sh."""
    from confluent_kafka.admin import AdminClient

    grants = [g for name, d in DEFINITIONS.items() for g in service_grants(name, d.consumed_event_types(), prefix)]
    client = AdminClient(confluent_config(admin))
    unique = list(dict.fromkeys(b for g in grants for b in bindings(g)))  # grants overlap: one binding once
    for future in client.create_acls(unique).values():
        future.result(timeout=30)


def bindings(grant: AclGrant) -> list[Any]:
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    topic_operations = {
        "producer": ["WRITE", "DESCRIBE", "CREATE"],
        "consumer": ["READ", "DESCRIBE"],
        "writer": ["WRITE", "DESCRIBE"],
        "reader": ["READ", "DESCRIBE"],
        "describer": ["DESCRIBE_CONFIGS"],
        "group": [],
    }[grant.role]
    pattern = ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL

    def allow(kind: Any, name: str, operation: str, kind_pattern: Any = pattern) -> Any:
        principal = f"User:{grant.principal}"
        return AclBinding(kind, name, kind_pattern, principal, "*", AclOperation[operation], AclPermissionType.ALLOW)

    found = [allow(ResourceType.TOPIC, t, op) for t in grant.topics for op in topic_operations]
    if grant.group:
        found.append(allow(ResourceType.GROUP, grant.group, "READ"))
    if grant.role == "producer":
        found.append(allow(ResourceType.BROKER, "kafka-cluster", "IDEMPOTENT_WRITE", ResourcePatternType.LITERAL))
    return found


def confluent_config(connection: KafkaConnection, **extra: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": connection.bootstrap,
        "security.protocol": connection.security_protocol,
        "sasl.mechanism": connection.sasl_mechanism,
        "sasl.username": connection.username,
        "sasl.password": connection.password,
        **extra,
    }


async def test_a_provider_onboarded_on_the_running_stack_works_with_its_new_credentials(
    infra: Infra, keycloak: Keycloak, broker: dict[str, str], tmp_path: Path
) -> None:
    began = time.monotonic()
    users = read_users(KAFKA_DIR)
    admin = KafkaConnection(f"127.0.0.1:{PORT}", "SASL_PLAINTEXT", "SCRAM-SHA-512", "admin", users["admin"])
    prefix = f"onb{uuid.uuid4().hex[:6]}."
    await asyncio.to_thread(grant_services, admin, prefix)
    await ensure_topics(admin, [provider_topic(OTHER_PROVIDER, prefix)], partitions=1)
    identity_dir = tmp_path / "identity"  # a copy: the session's realm files stay as other tests expect them
    shutil.copytree(keycloak.directory, identity_dir)
    stack = await start_process_stack(
        infra.database_url,
        admin.bootstrap,
        tmp_path / "stack",
        SERVICE_BASE_PORT,
        name="onb",
        prefix=prefix,
        extra_env={"ZS_AUTH_ISSUERS_FILE": str(identity_dir / "auth-issuers.toml")},
        kafka_admin=admin,
        own_env={name: service_kafka_env(name, users) for name in DEFINITIONS},
    )
    try:
        organisation = onboard_command.provider(NEW_PROVIDER, "Nieuwe Zorg (illustratief)")
        said = await asyncio.to_thread(onboard_now, organisation, keycloak, identity_dir, broker, admin, prefix)
        assert any(f"client {organisation.client_id} created" in line for line in said), said
        assert any(f"principal {organisation.client_id} added" in line for line in said), said
        assert any("ACLs applied" in line for line in said), said
        again = await asyncio.to_thread(onboard_now, organisation, keycloak, identity_dir, broker, admin, prefix)
        assert again and all("already" in line for line in again), again  # twice: nothing changes

        secret = json.loads((identity_dir / "client-secrets.json").read_text())[organisation.client_id]
        provider = ClientCredentials(keycloak.token_url, organisation.client_id, secret)
        municipality = ClientCredentials(
            keycloak.token_url, "municipality-0034", keycloak.client_secret("municipality-0034")
        )
        urls = {name: service.url for name, service in stack.services.items()}
        placement_id, client_ref = await place_and_assess(urls, provider, municipality, prefix)

        password = read_users(KAFKA_DIR)[organisation.client_id]
        as_provider = KafkaConnection(
            admin.bootstrap, "SASL_PLAINTEXT", "SCRAM-SHA-512", organisation.client_id, password
        )
        seen = await asyncio.to_thread(read_own_topic, as_provider, provider_topic(NEW_PROVIDER, prefix), client_ref)
        assert seen["data"]["placement_id"] == placement_id and seen["data"]["provider_agb"] == NEW_PROVIDER
        refused = await asyncio.to_thread(read_refused, as_provider, provider_topic(OTHER_PROVIDER, prefix), prefix)
        assert refused == "TOPIC_AUTHORIZATION_FAILED"
    finally:
        stack.stop()
    print(f"onboarding end to end: {time.monotonic() - began:.0f} s")


def onboard_now(
    organisation: onboard_command.Organisation,
    keycloak: Keycloak,
    identity_dir: Path,
    broker: dict[str, str],
    admin: KafkaConnection,
    prefix: str,
) -> list[str]:
    """What `zorgstroom onboard provider AGB NAME` does, on this session's Keycloak and this module's broker."""
    region = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
    demo = load_demo_data(ROOT / "data/demo/flevoland.toml")
    dashboard = f"http://127.0.0.1:{REPORTING_PORT}/"  # as the session's realm was written
    identity = onboard_command.Identity(identity_dir, region, demo, keycloak.url, dashboard)
    return onboard_command.onboard(
        organisation,
        identity=identity,
        admin=lambda: onboard_command.KeycloakAdmin(keycloak.url, keycloak.admin_password),
        database_url=None,
        kafka=onboard_command.KafkaTarget(ROOT, broker, KAFKA_DIR, admin, prefix),
    )


async def place_and_assess(
    urls: dict[str, str], provider: ClientCredentials, municipality: ClientCredentials, prefix: str
) -> tuple[str, str]:
    """The new provider registers its facility, the municipality's intake is placed there, the provider
    assesses the placement: the placement's id and the client's ref."""
    facility = FACILITY | {"provider_agb": NEW_PROVIDER, "name": "Nieuwe Zorg: shelter (illustrative)"}
    async with httpx.AsyncClient(timeout=30) as http:
        registered = await within_seconds(
            lambda: http.put(f"{urls['placement']}/v1/facilities/{prefix}shelter", json=facility, auth=provider)
        )
        assert registered.status_code == 201, registered.text
        intake = await http.post(
            urls["intake"] + "/v1/intakes",
            json=intake_body(care_form="MO_24H", needs=["psychiatric"]),
            headers={"Idempotency-Key": f"onb-{uuid.uuid4()}"},
            auth=municipality,
        )
        assert intake.status_code == 202, intake.text
        client_ref = intake.json()["client_ref"]
        placement = await placement_of(http, urls["placement"], provider, client_ref)
        assessment = {"assessed_on": date.today().isoformat(), "scores": dict.fromkeys(ZrmDomain, 4),
                      "client_wants_to_move": True}  # fmt: skip
        assessed = await http.post(
            f"{urls['placement']}/v1/placements/{placement}/assessments", json=assessment, auth=provider
        )
        assert assessed.status_code == 201, assessed.text
    return placement, client_ref


async def within_seconds(call: Any, seconds: float = 15) -> httpx.Response:
    """A call repeated while it answers 401: the services read the rewritten issuers file within seconds."""
    deadline = time.monotonic() + seconds
    while True:
        answer: httpx.Response = await call()
        if answer.status_code != 401 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.5)


async def placement_of(http: httpx.AsyncClient, url: str, provider: ClientCredentials, client_ref: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = await http.get(f"{url}/v1/providers/{NEW_PROVIDER}/placements", auth=provider)
        assert answer.status_code == 200, answer.text
        found = [p["placement_id"] for p in answer.json()["placements"] if p["client_ref"] == client_ref]
        if found:
            return str(found[0])
        await asyncio.sleep(0.5)
    raise AssertionError(f"no placement of {client_ref} at provider {NEW_PROVIDER} within a minute")


def read_own_topic(connection: KafkaConnection, topic: str, client_ref: str) -> dict[str, Any]:
    """The PlacementMade of the client on the provider's topic, read with confluent-kafka (librdkafka)."""
    from confluent_kafka import Consumer

    group = f"{topic.split('wmo.')[0]}{connection.username}-ehr"  # a group named after itself, as granted
    consumer = Consumer(confluent_config(connection, **{"group.id": group, "auto.offset.reset": "earliest"}))
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            value = json.loads(message.value() or b"{}")
            if value["event_type"] == "PlacementMade" and message.key() == client_ref.encode():
                return dict(value)
        raise AssertionError(f"no PlacementMade of {client_ref} on {topic} within 45 s")
    finally:
        consumer.close()


def read_refused(connection: KafkaConnection, topic: str, prefix: str) -> str:
    """The error name a read of another provider's topic ends in (with a group the principal may use)."""
    from confluent_kafka import Consumer

    group = f"{prefix}{connection.username}-elsewhere"
    consumer = Consumer(confluent_config(connection, **{"group.id": group, "auto.offset.reset": "earliest"}))
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            error = message.error() if message is not None else None
            if error is not None:
                return str(error.name())
            if message is not None:
                return "read a message"
        return "no answer within 30 s"
    finally:
        consumer.close()
