"""The batch consumer's verdicts without Kafka or PostgreSQL: a poll of several partitions with a poison
message and a failing event in the middle. Each bad one is dead-lettered alone, with its reason; every
other event of the poll, of whichever partition, is applied."""

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientWaitlisted
from zorgstroom_runtime.batch import BatchConsumer, Delivery
from zorgstroom_runtime.kafka import KafkaConnection


class FailsOn:
    """A projection that cannot apply one client's event (as a constraint violation would) and records the rest."""

    name = "test"
    event_types = frozenset({"ClientWaitlisted"})
    tables: Sequence[str] = ()

    def __init__(self, poison_ref: str) -> None:
        self.poison_ref = poison_ref
        self.committed: list[str] = []  # client_refs of transactions that committed
        self.transactions = 0

    async def apply(self, conn: Any, deliveries: Sequence[Delivery]) -> Sequence[Delivery]:
        self.transactions += 1
        refs = [d.event.client_ref for d in deliveries]  # type: ignore[attr-defined]
        if self.poison_ref * 64 in refs:
            raise ValueError("violates a constraint")
        self.committed.extend(refs)
        return deliveries


class Transaction:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


class Connection:
    def transaction(self) -> Transaction:
        return Transaction()


class Pool:
    def acquire(self) -> "Pool":
        return self

    async def __aenter__(self) -> Connection:
        return Connection()

    async def __aexit__(self, *exc: object) -> None:
        return None


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, bytes]]] = []

    async def send_and_wait(self, topic: str, *, value: bytes | None, key: bytes | None, headers: list) -> None:
        self.sent.append((topic, value, dict(headers)))


def waitlisted(ref: str) -> bytes:
    event = ClientWaitlisted(
        client_ref=ref * 64, care_form="MO_24H", responsible_municipality="0034", urgency="high",
        waiting_since="2027-01-01",
    )  # type: ignore[arg-type]  # fmt: skip
    return Envelope.wrap(event, producer="p", region="flevoland").model_dump_json().encode()


def record(partition: int, offset: int, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        value=value, topic="wmo.client-waitlisted.v1", partition=partition, offset=offset, headers=[], key=b"k"
    )


def batch_consumer(projection: FailsOn, **policy: Any) -> BatchConsumer:
    """A batch consumer of the waitlist topic on the in-memory pool; no Kafka is reached while building it."""
    return BatchConsumer(
        Pool(),  # type: ignore[arg-type]
        KafkaConnection("127.0.0.1:1"),
        projection,
        group_id="g",
        topics=["wmo.client-waitlisted.v1"],
        service="test",
        **policy,
    )


async def test_a_failure_in_the_middle_of_a_mixed_batch_dead_letters_that_event_alone() -> None:
    projection = FailsOn(poison_ref="c")
    consumer = batch_consumer(projection, max_attempts=2, retry_base_seconds=0.0)
    dlq = DeadLetters()
    poll = [
        record(0, 10, waitlisted("a")),
        record(1, 20, waitlisted("b")),
        record(1, 21, b"{not json"),  # poison: no envelope at all
        record(0, 11, waitlisted("c")),  # opens fine, but the projection cannot apply it
        record(1, 22, waitlisted("d")),
        record(0, 12, waitlisted("e")),
    ]
    await consumer.handle(poll, dlq)  # type: ignore[arg-type]

    assert projection.committed == ["a" * 64, "b" * 64, "d" * 64, "e" * 64]
    assert [(h["dlq-source-partition"], h["dlq-source-offset"], h["dlq-error-type"]) for _, _, h in dlq.sent] == [
        (b"1", b"21", b"InvalidEnvelope"),
        (b"0", b"11", b"ValueError"),
    ]
    assert all(topic == "wmo.client-waitlisted.v1.dlq" for topic, _, _ in dlq.sent)
    assert b"handler failed 2 times: ValueError: violates a constraint" in dlq.sent[1][2]["dlq-reason"]
    assert dlq.sent[1][1] == poll[3].value  # the original bytes, for replay after a fix


async def test_a_clean_batch_is_one_transaction() -> None:
    projection = FailsOn(poison_ref="z")
    consumer = batch_consumer(projection)
    await consumer.handle([record(p, o, waitlisted(r)) for p, o, r in [(0, 1, "a"), (1, 1, "b"), (0, 2, "c")]], None)
    assert projection.transactions == 1 and len(projection.committed) == 3


async def test_the_batch_subscriber_applies_what_the_broker_delivers_and_dead_letters_the_rest() -> None:
    """FastStream's in-memory broker: the subscriber's wiring (parser, decoder, manual ack), not delivery."""
    from faststream.kafka import TestKafkaBroker

    projection = FailsOn(poison_ref="c")
    consumer = batch_consumer(projection, max_attempts=1, retry_base_seconds=0.0)
    consumer.dead_letters.producer = dead_letters = DeadLetters()
    async with TestKafkaBroker(consumer.broker) as broker:
        await broker.publish(waitlisted("a"), "wmo.client-waitlisted.v1", headers={"x-legacy": "ok"})
        await broker.publish(b"{not json", "wmo.client-waitlisted.v1")
        await broker.publish(waitlisted("c"), "wmo.client-waitlisted.v1")
    assert projection.committed == ["a" * 64]
    assert [h["dlq-error-type"] for _, _, h in dead_letters.sent] == [b"InvalidEnvelope", b"ValueError"]


def test_a_poll_dead_letters_an_event_type_the_contract_does_not_know_and_skips_another_consumers() -> None:
    from zorgstroom_runtime.batch import open_deliveries

    unknown = waitlisted("c").replace(b'"ClientWaitlisted"', b'"ClientTeleported"')
    records = [record(0, 1, unknown), record(0, 2, waitlisted("d"))]
    deliveries, dead, ignored = open_deliveries(records, frozenset({"ClientRegistered"}))  # type: ignore[arg-type]
    assert deliveries == [] and [r.offset for r in ignored] == [2]  # ClientWaitlisted: known, not this one's
    assert [(r.offset, d.error_type) for r, d in dead] == [(1, "UnknownEventType")]


class Poll:
    """What FastStream hands the batch subscriber: the poll's records, and its ack and nack."""

    def __init__(self, records: list[SimpleNamespace]) -> None:
        self.raw_message, self.consumer, self.outcome = tuple(records), None, ""

    async def ack(self) -> None:
        self.outcome = "acked"

    async def nack(self) -> None:
        self.outcome = "nacked"


async def test_a_poll_that_cannot_be_finished_is_nacked_not_committed() -> None:
    projection = FailsOn(poison_ref="z")
    consumer = batch_consumer(projection)

    async def kafka_away() -> None:
        raise ConnectionError("no broker for the dead letters")

    consumer.dead_letters.started = kafka_away  # type: ignore[method-assign]
    poll = Poll([record(0, 1, waitlisted("a")), record(1, 5, waitlisted("b"))])
    await consumer._apply_poll([], poll)  # type: ignore[arg-type]
    assert poll.outcome == "nacked"  # every partition of the poll is read again, after a pause
    assert projection.committed == [] and "no broker" in (consumer.last_error or "")
