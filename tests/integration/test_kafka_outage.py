"""An intake accepted while Kafka is down is published once Kafka is back: nothing lost.

Uses a Kafka broker of its own (native start-up) so stopping it does not disturb other tests.
"""

import os
import uuid

import pytest

from tests.support.builders import intake_body
from tests.support.infra import broker_of_its_own, run_deploy
from tests.support.kafka import eventually, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_intake.bootstrap import build
from zorgstroom_runtime.kafka import ensure_topics, project_topics

OUTAGE_PORT = int(os.environ.get("ZS_TEST_OUTAGE_KAFKA_PORT", "19292"))


@pytest.fixture
def own_kafka(infra):  # type: ignore[no-untyped-def]
    with broker_of_its_own(infra, "test-outage", OUTAGE_PORT) as kafka:
        yield kafka


async def test_intake_accepted_while_kafka_is_down_is_published_when_it_returns(ns: Namespace, own_kafka) -> None:
    env, bootstrap = own_kafka
    await ensure_topics(bootstrap, project_topics(ns.prefix), partitions=3)
    async with running(build(ns.settings("intake", kafka_bootstrap=bootstrap)), "intake") as intake:
        run_deploy("kafka.sh", "stop", env)
        answer = await intake.post(
            "/v1/intakes", json=intake_body(), headers=ns.auth("almere") | {"Idempotency-Key": f"k-{uuid.uuid4()}"}
        )
        assert answer.status_code == 202
        accepted = answer.json()
        status = await intake.get(f"/v1/intakes/{accepted['intake_id']}", headers=ns.auth("almere"))
        assert status.json()["status"] == "registered"
        ready = await intake.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"] is False

        run_deploy("kafka.sh", "start", env)

        async def published() -> bool:
            answer = await intake.get(f"/v1/intakes/{accepted['intake_id']}", headers=ns.auth("almere"))
            return answer.json()["status"] == "published"

        await eventually(published, timeout=90, interval=0.5)
    records = await read_topic(bootstrap, ns.topic("wmo.client-registered.v1"))
    assert [r.key.decode() for r in records] == [accepted["client_ref"]]
