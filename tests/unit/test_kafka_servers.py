"""A bootstrap of several brokers (ZS_KAFKA_BOOTSTRAP=a:1,b:2,c:3) reaches the consumers as several brokers:
FastStream takes a string as one host, commas and all, and the consumer would never connect."""

from typing import Any

from tests.unit.test_consumer_retries import FlakyPool
from zorgstroom_runtime.batch import BatchConsumer
from zorgstroom_runtime.consumer import IdempotentConsumer
from zorgstroom_runtime.handlers import Subscription
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.outbox import Outbox

CLUSTER = KafkaConnection("127.0.0.1:19600,127.0.0.1:19602, 127.0.0.1:19604")
BROKERS = ["127.0.0.1:19600", "127.0.0.1:19602", "127.0.0.1:19604"]


def servers_of(broker: Any) -> list[str]:
    return list(broker._connection_kwargs["bootstrap_servers"])


def test_the_event_consumer_is_given_every_broker_of_the_bootstrap() -> None:
    consumer = IdempotentConsumer(
        FlakyPool(0),
        Outbox("s", "r", "", "s"),
        CLUSTER,
        Subscription("g", ["t"], ()),
    )
    assert servers_of(consumer.build_broker()) == BROKERS


def test_the_batch_consumer_is_given_every_broker_of_the_bootstrap() -> None:
    consumer = BatchConsumer(
        FlakyPool(0),
        CLUSTER,
        None,  # type: ignore[arg-type]
        group_id="g",
        topics=["t"],
        service="test",
    )
    assert servers_of(consumer.broker) == BROKERS
