"""A consuming service started while Kafka is away starts its FastStream subscriber once Kafka is there
(retried with back-off in the lifespan's task, not a failed start-up) and then applies what was waiting.

Uses a Kafka broker of its own (native start-up), like test_kafka_outage.
"""

import os

import pytest

from tests.integration.test_delivery import message, registered_envelope
from tests.support.infra import broker_of_its_own, run_deploy
from tests.support.kafka import eventually, produce
from tests.support.stack import Namespace, running
from zorgstroom_placement.bootstrap import build
from zorgstroom_runtime.kafka import ensure_topics, project_topics

LATE_PORT = int(os.environ.get("ZS_TEST_LATE_KAFKA_PORT", "19392"))


@pytest.fixture
def late_kafka(infra):  # type: ignore[no-untyped-def]
    with broker_of_its_own(infra, "test-late", LATE_PORT, started=False) as kafka:
        yield kafka


async def test_placement_started_before_kafka_consumes_once_kafka_is_up(ns: Namespace, late_kafka) -> None:
    env, bootstrap = late_kafka
    async with running(build(ns.settings("placement", kafka_bootstrap=bootstrap)), "placement") as placement:
        ready = await placement.get("/readyz")
        assert ready.status_code == 503
        run_deploy("kafka.sh", "start", env)
        await ensure_topics(bootstrap, project_topics(ns.prefix), partitions=2)
        envelope = registered_envelope()
        await produce(bootstrap, ns.topic("wmo.client-registered.v1"), [message(envelope)])
        context = placement._transport.app.state.context  # type: ignore[attr-defined]

        async def applied() -> int:
            return await context.pool.fetchval(
                "SELECT count(*) FROM processed_events WHERE event_id = $1", envelope.event_id
            )

        assert await eventually(applied, timeout=90, interval=0.5) == 1
        assert context.consumer.last_error is None
