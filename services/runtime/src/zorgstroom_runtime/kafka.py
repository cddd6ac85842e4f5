"""Kafka clients configured once: the idempotent producer, and the topics the project creates."""

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from zorgstroom_contracts import TOPICS, dlq_topic, topic_name

log = logging.getLogger(__name__)


def new_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    """aiokafka defaults to acks=1 without idempotence; the outbox relay needs both switched on."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
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


async def ensure_topics(
    bootstrap: str, names: list[str], *, partitions: int = 6, replication: int = 1, attempts: int = 30
) -> list[str]:
    """Create the given topics where missing (idempotent); returns the names created now."""
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="zorgstroom-admin")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in missing]
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


def main() -> None:
    """`python -m zorgstroom_runtime.kafka`: create the project's topics on the configured cluster."""
    from zorgstroom_runtime.settings import ServiceSettings

    settings = ServiceSettings()
    created = asyncio.run(ensure_topics(settings.kafka_bootstrap, project_topics(settings.topic_prefix)))
    print(f"topics: {len(created)} created, {len(project_topics(settings.topic_prefix)) - len(created)} present")


if __name__ == "__main__":
    main()
