"""Where the tests get real Kafka and PostgreSQL.

In order: ZS_TEST_KAFKA_BOOTSTRAP and ZS_TEST_DATABASE_URL if set; testcontainers when a Docker
daemon answers; else the project's native start-up (deploy/*.sh) on test ports of its own.
"""

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Infra:
    kafka_bootstrap: str
    database_url: str
    how: str
    _stop: list = field(default_factory=list, repr=False)

    def stop(self) -> None:
        for stop in reversed(self._stop):
            stop()


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def native_env(instance: str, kafka_port: int, pg_port: int) -> dict[str, str]:
    """The environment of deploy/*.sh for a native instance. The cluster asks for a password, kept in the
    pgpass file every instance shares: this process (and the services it starts) reads it from PGPASSFILE."""
    os.environ.setdefault("PGPASSFILE", str(Path(os.environ.get("ZS_CACHE", ROOT / ".cache")) / "run" / "pgpass"))
    return {
        **os.environ,
        "ZS_INSTANCE": instance,
        "ZS_KAFKA_PORT": str(kafka_port),
        "ZS_PG_PORT": str(pg_port),
        "ZS_PG_FSYNC": "off",
    }


def run_deploy(script: str, action: str, env: dict[str, str]) -> None:
    subprocess.run([str(ROOT / "deploy" / script), action], env=env, check=True, timeout=600)


def start_infra() -> Infra:
    kafka, database = os.environ.get("ZS_TEST_KAFKA_BOOTSTRAP"), os.environ.get("ZS_TEST_DATABASE_URL")
    if kafka and database:
        return Infra(kafka, database, "environment")
    if docker_answers():
        try:
            from testcontainers.community.kafka import KafkaContainer
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers before the community namespace
            from testcontainers.kafka import KafkaContainer  # type: ignore[no-redef]
            from testcontainers.postgres import PostgresContainer  # type: ignore[no-redef]

        # The Python module drives Confluent's image (KRaft, Kafka 3.9); the native path runs 4.1.
        k = KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft()
        p = PostgresContainer("postgres:15", driver=None)
        k.start()
        p.start()
        return Infra(k.get_bootstrap_server(), p.get_connection_url(), "testcontainers", [k.stop, p.stop])
    kafka_port, pg_port = (
        int(os.environ.get("ZS_TEST_KAFKA_PORT", "19192")),
        int(os.environ.get("ZS_TEST_PG_PORT", "15442")),
    )
    env = native_env(os.environ.get("ZS_TEST_INSTANCE", "test"), kafka_port, pg_port)
    run_deploy("kafka.sh", "start", env)
    run_deploy("postgres.sh", "start", env)
    stops = (
        []
        if os.environ.get("ZS_TEST_KEEP_INFRA")
        else [lambda: run_deploy("kafka.sh", "stop", env), lambda: run_deploy("postgres.sh", "stop", env)]
    )
    return Infra(f"127.0.0.1:{kafka_port}", f"postgresql://zorgstroom@127.0.0.1:{pg_port}/zorgstroom", "native", stops)


def starts_brokers(infra: Infra) -> bool:
    """Whether a test may start a broker of its own: with the native start-up, or when the shared brokers
    come from the environment and ZS_TEST_OWN_BROKERS=1 says this machine can run deploy/kafka.sh too."""
    return infra.how == "native" or (infra.how == "environment" and os.environ.get("ZS_TEST_OWN_BROKERS") == "1")


def own_broker_env(
    instance: str, port: int, *, sasl: bool = False, tls: bool = False, users: str = ""
) -> dict[str, str]:
    """deploy/kafka.sh's environment for a broker of a test's own: SCRAM and ACLs with `sasl`, over TLS
    with `tls` (its CA is .cache/tls/ca.pem), the SCRAM users named in `users` (else the script's own)."""
    env = native_env(instance, port, 0) | {
        "ZS_KAFKA_SASL": "1" if sasl or tls else "0",
        "ZS_KAFKA_TLS": "1" if tls else "0",
    }
    return env | ({"ZS_KAFKA_USERS": users} if users else {})


@contextlib.contextmanager
def broker_of_its_own(
    infra: Infra, instance: str, port: int, *, started: bool = True, sasl: bool = False, tls: bool = False
) -> Iterator[tuple[dict[str, str], str]]:
    """A native Kafka on a port of its own that a test may stop and start (skipped where the brokers are not
    native); stopped afterwards, and stopped first in case an aborted run left it behind."""
    if not starts_brokers(infra):
        import pytest

        pytest.skip("a broker of its own needs the native start-up")
    env = own_broker_env(instance, port, sasl=sasl, tls=tls)
    run_deploy("kafka.sh", "start" if started else "stop", env)
    try:
        yield env, f"127.0.0.1:{port}"
    finally:
        run_deploy("kafka.sh", "stop", env)
