"""Kafka clients configured once: the idempotent producer, and the topics the project creates."""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from zorgstroom_contracts import TOPICS, dlq_topic, topic_name

if TYPE_CHECKING:
    from zorgstroom_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and who we are there: every client of the project is built from one of these."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None  # PEM CA that signed the brokers' certificates; the system's trust store if None
    replication: int = 1  # replicas of a topic the project creates
    min_insync: int = 1  # min.insync.replicas of such a topic

    @classmethod
    def from_settings(cls, settings: "ServiceSettings") -> "KafkaConnection":
        password = settings.kafka_password.get_secret_value() if settings.kafka_password else None
        return cls(
            settings.kafka_bootstrap,
            settings.kafka_security_protocol,
            settings.kafka_sasl_mechanism,
            settings.kafka_username,
            password,
            str(settings.kafka_ca_file) if settings.kafka_ca_file else None,
            settings.kafka_replication_factor,
            settings.kafka_min_insync_replicas,
        )

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers one by one: FastStream takes a string as one host, commas and all."""
        return [s.strip() for s in self.bootstrap.split(",") if s.strip()]

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.security_protocol.endswith("SSL"):
            options["ssl_context"] = create_ssl_context(cafile=self.ca_file)
        return options


def as_connection(kafka: "KafkaConnection | str") -> KafkaConnection:
    return KafkaConnection(kafka) if isinstance(kafka, str) else kafka


def new_producer(kafka: KafkaConnection, client_id: str) -> AIOKafkaProducer:
    """aiokafka defaults to acks=1 without idempotence; the outbox relay needs both switched on."""
    return AIOKafkaProducer(
        **kafka.options(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=15_000,
        retry_backoff_ms=200,
    )


def project_topics(prefix: str = "") -> list[str]:
    names = [topic_name(t, prefix) for t in TOPICS]
    return names + [dlq_topic(n) for n in names]


# Every topic is a stream of facts that a rebuild replays from offset 0: nothing may expire or be compacted
# away (compaction would keep one fact per client). Set on the topic, so a broker default cannot undo it.
KEEP_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


TOPIC_LEVEL = 1  # DescribeConfigs' config source DYNAMIC_TOPIC_CONFIG: set on the topic itself


def topic_config(kafka: KafkaConnection) -> dict[str, str]:
    """The configuration every project topic is created with, and checked against."""
    return KEEP_FOREVER | {"min.insync.replicas": str(kafka.min_insync)}


async def ensure_topics(
    kafka: KafkaConnection | str, names: list[str], *, partitions: int = 6, attempts: int = 30
) -> list[str]:
    """Create the given topics where missing (idempotent), keeping history for ever with the connection's
    replication; returns the names created now."""
    connection = as_connection(kafka)
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(**connection.options(), client_id="zorgstroom-admin")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [
                            NewTopic(
                                n,
                                num_partitions=partitions,
                                replication_factor=connection.replication,
                                topic_configs=topic_config(connection),
                            )
                            for n in missing
                        ]
                    )
            return missing
        except Exception as error:  # the broker may still be starting up
            if attempt == attempts - 1:
                raise
            log.info("waiting for Kafka to create topics: %s", error)
            await asyncio.sleep(1)
        finally:
            await admin.close()
    return []


async def topic_problems(kafka: KafkaConnection, names: list[str]) -> list[str]:
    """What keeps each topic from holding its history for ever at the connection's replication: a missing
    topic, a retention or cleanup policy that deletes, fewer replicas or in-sync replicas than configured."""
    admin = AIOKafkaAdminClient(**kafka.options(), client_id="zorgstroom-admin")
    await admin.start()
    try:
        described: dict[str, Any] = {}
        for _ in range(20):  # a topic created a moment ago may not be in every broker's metadata yet
            described |= await _describe_existing(admin, [n for n in names if n not in described])
            if len(described) == len(set(names)):
                break
            await asyncio.sleep(0.25)
        present = [n for n in names if n in described]
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in present])
    finally:
        await admin.close()
    wanted = topic_config(kafka)
    problems = [f"{n}: missing" for n in names if n not in present]
    for answer in answers:
        for error_code, _, _, name, entries in answer.resources:
            if error_code:
                problems.append(f"{name}: its configuration cannot be read (error {error_code})")
                continue
            actual = {entry[0]: entry[1] for entry in entries}
            on_topic = {entry[0] for entry in entries if entry[3] == TOPIC_LEVEL}
            for key, value in wanted.items():
                if key == "min.insync.replicas" and actual.get(key, "").isdigit() and int(actual[key]) >= int(value):
                    continue  # more in-sync replicas than asked for is safer, not wrong
                if actual.get(key) != value:
                    problems.append(f"{name}: {key}={actual.get(key)!r}, wanted {value!r}")
                elif key not in on_topic:  # a broker's default today; a changed default would apply tomorrow
                    problems.append(f"{name}: {key} is not set on the topic (the broker's default applies)")
    for name in present:
        replicas = min((len(p["replicas"]) for p in described[name]["partitions"]), default=0)
        if replicas < kafka.replication:
            problems.append(f"{name}: {replicas} replicas, wanted {kafka.replication}")
    return problems


class HistoryAtRisk(RuntimeError):
    """A topic the service uses would lose events a rebuild needs, or has fewer replicas than configured."""


async def refuse_topics_that_lose_history(kafka: KafkaConnection, names: list[str]) -> None:
    """Production start: every topic the service reads or writes keeps history for ever, replicated as set."""
    problems = await topic_problems(kafka, names)
    if problems:
        raise HistoryAtRisk(
            "topics that would lose history: run `python -m zorgstroom_runtime.kafka` with this service's settings"
            " as an admin (it creates missing topics and sets the configuration on existing ones); fewer replicas"
            f" than configured need a partition reassignment (kafka-reassign-partitions): {'; '.join(problems)}"
        )


async def _describe_existing(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, Any]:
    """The metadata of those of `names` that exist. Only existing topics are asked about by name: a metadata
    request for a missing topic would have a broker that auto-creates topics create it, with its defaults."""
    existing = set(await admin.list_topics())
    asked = [n for n in names if n in existing]
    described = await admin.describe_topics(asked) if asked else []
    return {d["topic"]: d for d in described if d["error_code"] == 0}


async def apply_topic_config(kafka: KafkaConnection, names: list[str]) -> list[str]:
    """Set the keep-for-ever configuration on existing topics that lack it (an upgrade from topics made
    before); other settings on a topic are kept. Returns the topics changed."""
    wanted = topic_config(kafka)
    admin = AIOKafkaAdminClient(**kafka.options(), client_id="zorgstroom-admin")
    await admin.start()
    try:
        present = list(await _describe_existing(admin, names))
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in present])
        changes = []
        for answer in answers:
            for error_code, _, _, name, entries in answer.resources:
                own = {e[0]: e[1] for e in entries if e[3] == TOPIC_LEVEL} if not error_code else {}
                if not error_code and any(own.get(k) != v for k, v in wanted.items()):
                    changes.append(ConfigResource(ConfigResourceType.TOPIC, name, configs=own | wanted))
        if changes:  # AlterConfigs replaces a topic's own settings: the ones it had go along
            await admin.alter_configs(changes)
    finally:
        await admin.close()
    return sorted(c.name for c in changes)


async def partitions_of(kafka: KafkaConnection, topics: list[str]) -> dict[str, list[int]]:
    """The partitions of each topic that exists (a consumer's own metadata may not have them yet)."""
    admin = AIOKafkaAdminClient(**kafka.options(), client_id="zorgstroom-admin")
    await admin.start()
    try:
        described = await _describe_existing(admin, topics)
    finally:
        await admin.close()
    return {t: sorted(p["partition"] for p in d["partitions"]) for t, d in described.items()}


def main() -> None:
    """`python -m zorgstroom_runtime.kafka`: create the project's topics on the configured cluster."""
    from zorgstroom_runtime.settings import ServiceSettings

    settings = ServiceSettings()
    kafka, names = KafkaConnection.from_settings(settings), project_topics(settings.topic_prefix)
    created = asyncio.run(ensure_topics(kafka, names))
    changed = asyncio.run(apply_topic_config(kafka, names))
    print(f"topics: {len(created)} created, {len(names) - len(created)} present, {len(changed)} set to keep history")


if __name__ == "__main__":
    main()
