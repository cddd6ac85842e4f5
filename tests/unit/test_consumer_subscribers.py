"""The per-event handlers as FastStream subscribers, in memory (TestKafkaBroker): which handler runs with
what, and what is dead-lettered with which reason. They prove handlers and validation, not delivery
(offsets, Kafka, PostgreSQL: tests/integration)."""

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import TestKafkaBroker
from faststream.specification import AsyncAPI

from tests.unit.test_consumer_dead_letters import waitlisted
from tests.unit.test_consumer_retries import FakeConnection, FlakyPool
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.envelope import envelope_model
from zorgstroom_contracts.events import ClientRegistered, ClientWaitlisted
from zorgstroom_runtime import delivery
from zorgstroom_runtime.consumer import IdempotentConsumer
from zorgstroom_runtime.delivery import DeadLetter
from zorgstroom_runtime.handlers import On, Rejected, Subscription
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.outbox import Outbox, UnitOfWork
from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self, *handlers: On[Any], pool: object | None = None) -> None:
        self.dead: list[tuple[str, str]] = []
        self.consumer = IdempotentConsumer(
            pool or FlakyPool(0),  # type: ignore[arg-type]
            Outbox("s", "r", "", "s"),
            KafkaConnection("127.0.0.1:1"),
            Subscription("g", ["t"], handlers),
            max_attempts=2,
            retry_base_seconds=0.001,
        )

        async def dead_letter(record: ConsumerRecord, dead: DeadLetter) -> None:
            self.dead.append((dead.error_type, dead.reason))

        self.consumer._dead_letter = dead_letter  # type: ignore[method-assign]


def registered() -> bytes:
    from tests.integration.test_delivery import registered_envelope

    return registered_envelope().model_dump_json().encode()


async def test_each_handler_of_an_event_class_runs_with_the_typed_envelope_and_event_in_order() -> None:
    seen: list[tuple[str, str, str]] = []

    async def first(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        seen.append(("first", type(envelope).__name__, event.urgency))

    async def second(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        seen.append(("second", type(envelope).__name__, event.urgency))

    recorder = Recorder(On(ClientWaitlisted, first), On(ClientWaitlisted, second))
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        await broker.publish(waitlisted(), topic="t")
    assert seen == [("first", "ClientWaitlistedEnvelope", "high"), ("second", "ClientWaitlistedEnvelope", "high")]
    assert recorder.dead == []


@pytest.mark.parametrize(
    ("value", "error_type", "reason"),
    [
        (b"this is not json", "InvalidEnvelope", "not a valid envelope"),
        (b'{"event_type": "ClientWaitlisted"}', "InvalidEnvelope", "not a valid envelope"),
        (waitlisted(responsible_municipality="SECRET-VALUE"), "InvalidEvent", "ClientWaitlisted v1 data invalid"),
    ],
)
async def test_what_cannot_be_used_is_dead_lettered_with_the_reason(value: bytes, error_type: str, reason: str) -> None:
    applied: list[object] = []

    async def handler(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        applied.append(event)

    recorder = Recorder(On(ClientWaitlisted, handler))
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        await broker.publish(value, topic="t")
    assert applied == [] and len(recorder.dead) == 1
    assert recorder.dead[0][0] == error_type and recorder.dead[0][1].startswith(reason)
    assert "SECRET-VALUE" not in recorder.dead[0][1]


async def test_a_newer_version_of_a_handled_event_is_dead_lettered_as_unknown() -> None:
    raw = json.loads(waitlisted())
    raw["schema_version"] = 2

    async def handler(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        raise AssertionError("not for this build")

    recorder = Recorder(On(ClientWaitlisted, handler))
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        await broker.publish(json.dumps(raw).encode(), topic="t")
    assert [e for e, _ in recorder.dead] == ["UnknownEventType"]


async def test_another_consumers_event_type_on_the_topic_is_ignored_not_subscriber_not_found() -> None:
    applied: list[object] = []

    async def handler(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        applied.append(event)

    recorder = Recorder(On(ClientWaitlisted, handler))
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        # Without the catch-all FastStream raises SubscriberNotFound here, which a nack policy reads forever.
        await broker.publish(registered(), topic="t")
        await broker.publish(waitlisted(), topic="t")
    assert len(applied) == 1 and recorder.dead == []


async def test_a_rejected_event_and_a_handler_that_keeps_failing_are_dead_lettered() -> None:
    async def reject(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        raise Rejected("no place")

    async def broken(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
        raise KeyError("bug")

    recorder = Recorder(On(ClientWaitlisted, reject), On(ClientRegistered, broken))
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        await broker.publish(waitlisted(), topic="t")
        await broker.publish(registered(), topic="t")
    assert recorder.dead == [
        ("Rejected", "rejected by g: no place"),
        ("KeyError", "handler failed 2 times: KeyError: 'bug'"),
    ]


async def test_a_database_outage_is_waited_out_inside_the_handler() -> None:
    applied: list[object] = []

    async def handler(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        applied.append(event)

    pool = FlakyPool(failures=6)  # more than max_attempts: transient errors do not count
    recorder = Recorder(On(ClientWaitlisted, handler), pool=pool)
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        await broker.publish(waitlisted(), topic="t")
    assert len(applied) == 1 and pool.failures == 0 and recorder.dead == []


async def test_a_valid_event_with_a_header_that_is_not_utf8_is_applied_not_dead_lettered() -> None:
    applied: list[object] = []

    async def handler(uow: UnitOfWork, envelope: Envelope, event: ClientWaitlisted) -> None:
        applied.append(event)

    recorder = Recorder(On(ClientWaitlisted, handler))
    async with TestKafkaBroker(recorder.consumer.broker):
        subscriber = recorder.consumer.broker.subscribers[0]
        record = ConsumerRecord(
            topic="t", partition=0, offset=3, timestamp=0, timestamp_type=0, key=None, value=waitlisted(),
            checksum=None, serialized_key_size=0, serialized_value_size=0, headers=[("x", b"\xff\xfe")],
        )  # fmt: skip
        await subscriber.consume(record)  # FastStream's parser decodes headers as UTF-8: that one is left out
    assert len(applied) == 1 and recorder.dead == []


async def test_an_event_type_no_part_of_the_contract_knows_is_dead_lettered_not_skipped() -> None:
    raw = json.loads(waitlisted())
    raw["event_type"] = "ClientTeleported"
    recorder = Recorder(On(ClientWaitlisted, lambda *_: asyncio.sleep(0)))
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        await broker.publish(json.dumps(raw).encode(), topic="t")
        await broker.publish(registered(), topic="t")  # a known type of another consumer: skipped, as before
    assert recorder.dead == [("UnknownEventType", "unknown event type: 'ClientTeleported'")]


async def test_an_error_that_escapes_waits_before_the_message_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(On(ClientWaitlisted, lambda *_: asyncio.sleep(0)))
    pauses: list[str] = []

    async def pause(error: BaseException) -> None:
        pauses.append(type(error).__name__)

    async def escape(*_: object) -> str:
        raise RuntimeError("a bug in the runtime")

    monkeypatch.setattr(recorder.consumer, "_pause", pause)
    monkeypatch.setattr(recorder.consumer, "_apply_opened", escape)
    async with TestKafkaBroker(recorder.consumer.broker) as broker:
        with pytest.raises(RuntimeError):
            await broker.publish(waitlisted(), topic="t")
    assert pauses == ["RuntimeError"] and recorder.dead == []


def test_the_subscriber_commits_after_the_handler_and_nacks_on_error() -> None:
    recorder = Recorder(On(ClientWaitlisted, lambda *_: asyncio.sleep(0)))
    (subscriber,) = recorder.consumer.broker.subscribers
    assert subscriber.ack_policy is AckPolicy.NACK_ON_ERROR
    assert subscriber.group_id == "g"


async def test_dead_letters_go_through_the_acks_all_idempotent_producer() -> None:
    from zorgstroom_runtime.kafka import new_producer

    assert delivery.new_producer is new_producer
    producer = new_producer(KafkaConnection("127.0.0.1:1"), "x")  # built, not started
    assert producer._txn_manager is not None  # idempotence on
    assert producer._sender._acks == -1  # acks=all


def test_the_asyncapi_document_shows_each_handled_event_types_envelope() -> None:
    recorder = Recorder(
        On(ClientWaitlisted, lambda *_: asyncio.sleep(0)), On(ClientRegistered, lambda *_: asyncio.sleep(0))
    )
    document = json.loads(AsyncAPI(recorder.consumer.broker).to_specification().to_json())
    schemas = document["components"]["schemas"]
    assert {"ClientWaitlistedEnvelope", "ClientRegisteredEnvelope"} <= set(schemas)
    assert schemas["ClientWaitlistedEnvelope"]["properties"]["event_type"]["const"] == "ClientWaitlisted"
    assert envelope_model("ClientWaitlisted").__name__ == "ClientWaitlistedEnvelope"


async def test_placements_own_subscriber_rejects_an_acceptance_that_names_no_municipality() -> None:
    """Placement's real definition on TestKafkaBroker: the acceptance reaches on_housing_offer_accepted
    typed, the decline on the same topic is ignored, and the handler's Rejected becomes a dead letter."""
    from datetime import date

    from zorgstroom_contracts.events import HousingOfferAccepted, HousingOfferDeclined
    from zorgstroom_placement.bootstrap import DEFINITION

    class NoPlaces(FakeConnection):
        async def fetchrow(self, *_: object) -> None:
            return None  # no open placement for anyone

        async def fetch(self, *_: object) -> list[object]:
            return []  # no transfers due, no waiting registrations

    class Pool:
        @contextlib.asynccontextmanager
        async def acquire(self):  # type: ignore[no-untyped-def]
            yield NoPlaces()

    subscription = DEFINITION.subscription("")
    dead: list[tuple[str, str]] = []
    region = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
    consumer = IdempotentConsumer(
        Pool(),  # type: ignore[arg-type]
        Outbox("placement", "r", "", "s"),
        KafkaConnection("x"),
        subscription,
        region=region,
    )

    async def dead_letter(record: ConsumerRecord, letter: DeadLetter) -> None:
        dead.append((record.topic, letter.reason))

    consumer._dead_letter = dead_letter  # type: ignore[method-assign]
    ref, answered = "ab" * 32, date(2026, 5, 1)
    accepted = HousingOfferAccepted(offer_id="o-1", unit_id="u-1", client_ref=ref, answered_on=answered)
    declined = HousingOfferDeclined(offer_id="o-2", unit_id="u-1", client_ref=ref, answered_on=answered, reason="other")
    topic = "wmo.housing-offer-answered.v1"
    async with TestKafkaBroker(consumer.broker) as broker:
        for event in (declined, accepted):
            await broker.publish(
                Envelope.wrap(event, producer="housing", region="flevoland").model_dump_json(), topic=topic
            )
    assert dead == [(topic, "rejected by placement: offer o-1 names no municipality for the new home")]
