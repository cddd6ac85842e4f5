"""The four services as processes on a database and topic prefix of their own (e2e, chaos, bench)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.support.infra import ROOT
from tests.support.stack import TEST_SECRET, write_credentials
from zorgstroom_ops import processes
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics


def env_of_service(service: str, env: dict[str, str]) -> dict[str, str]:
    """The stack's environment for one service: only intake is given the client_ref key."""
    return env | {"ZS_CLIENT_REF_SECRET": TEST_SECRET} if service == "intake" else dict(env)


@dataclass
class ProcessStack:
    services: dict[str, processes.ServiceProcess]
    env: dict[str, str]  # what every service is given; start one with env_of_service(name, env)
    tokens: dict[str, str]
    prefix: str

    def stop(self) -> None:
        for service in self.services.values():
            processes.stop(service)


async def start_process_stack(
    database_url: str,
    kafka_bootstrap: str,
    run_dir: Path,
    base_port: int,
    *,
    name: str = "stack",
    prefix: str | None = None,
    partitions: int = 2,
    extra_env: dict[str, str] | None = None,
    services: Sequence[str] = processes.SERVICES,
    kafka_admin: KafkaConnection | None = None,
    own_env: dict[str, dict[str, str]] | None = None,
) -> ProcessStack:
    """A fresh database beside `database_url`'s, the topics under a prefix, credentials, and the four
    services (or those named in `services`) started and ready. On a broker with SASL: `kafka_admin` creates
    the topics, and `own_env` gives each service its own variables (its Kafka principal) beside `env`."""
    suffix = uuid.uuid4().hex[:8]
    database = f"{name}_{suffix}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    prefix = prefix if prefix is not None else f"{name}{suffix}."
    await ensure_topics(kafka_admin or kafka_bootstrap, project_topics(prefix), partitions=partitions)
    credentials_file, tokens = write_credentials(run_dir)
    env = {
        "ZS_ENVIRONMENT": "test",
        "ZS_DATABASE_URL": database_url.rsplit("/", 1)[0] + "/" + database,
        "ZS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ZS_TOPIC_PREFIX": prefix,
        "ZS_REGION_FILE": str(ROOT / "data/regions/flevoland.toml"),
        "ZS_MUNICIPALITIES_FILE": str(ROOT / "data/municipalities-nl.csv"),
        "ZS_CREDENTIALS_FILE": str(credentials_file),
        "ZS_RELAY_POLL_SECONDS": "0.2",
        **(extra_env or {}),
    }
    planned = processes.plan(run_dir, base_port)
    stack = ProcessStack({s.name: s for s in planned if s.name in services}, env, tokens, prefix)
    try:
        for service in stack.services.values():
            processes.start(service, env_of_service(service.name, env) | (own_env or {}).get(service.name, {}))
        for service in stack.services.values():
            processes.wait_ready(service)
    except BaseException:
        stack.stop()
        raise
    return stack
