"""The consumer's verdicts on a message, without Kafka: what is dead-lettered and why."""

from types import SimpleNamespace

import pytest

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientWaitlisted
from zorgstroom_runtime.consumer import IdempotentConsumer
from zorgstroom_runtime.delivery import DeadLetter
from zorgstroom_runtime.handlers import On, Subscription
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.outbox import Outbox


async def handler(uow, envelope, event) -> None:  # type: ignore[no-untyped-def]
    return None


def consumer() -> IdempotentConsumer:
    subscription = Subscription("g", ["t"], [On(ClientWaitlisted, handler)])
    return IdempotentConsumer(None, Outbox("s", "r", "", "s"), KafkaConnection("127.0.0.1:1"), subscription)  # type: ignore[arg-type]


def record(value: bytes) -> SimpleNamespace:
    return SimpleNamespace(value=value, topic="t", partition=0, offset=7, headers=[], key=None)


def waitlisted(**data_overrides: object) -> bytes:
    event = ClientWaitlisted(
        client_ref="ab" * 32,
        care_form="MO_24H",
        responsible_municipality="0034",
        urgency="high",
        waiting_since="2027-01-01",
    )
    envelope = Envelope.wrap(event, producer="p", region="flevoland")
    raw = envelope.model_dump(mode="json")
    raw["data"].update(data_overrides)
    return Envelope.model_validate(raw).model_dump_json().encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "not a valid envelope"),
        (b"[1, 2]", "not a valid envelope"),
        (b'{"event_id": "nope"}', "not a valid envelope"),
    ],
)
def test_what_is_not_an_envelope_is_dead_lettered(value: bytes, reason: str) -> None:
    with pytest.raises(DeadLetter, match=reason):
        consumer()._open(record(value))  # type: ignore[arg-type]


def test_an_event_whose_data_fails_its_schema_is_dead_lettered_without_its_values() -> None:
    with pytest.raises(DeadLetter) as dead:
        consumer()._open(record(waitlisted(responsible_municipality="SECRET-VALUE")))  # type: ignore[arg-type]
    assert "responsible_municipality" in dead.value.reason and "SECRET-VALUE" not in dead.value.reason


def test_an_event_type_this_consumer_does_not_handle_is_ignored() -> None:
    envelope, event, chosen = consumer()._open(record(waitlisted()))  # type: ignore[arg-type]
    assert chosen == [handler] and event is not None
    other = Subscription("g", ["t"], [])
    ignored = IdempotentConsumer(None, Outbox("s", "r", "", "s"), KafkaConnection("x"), other)  # type: ignore[arg-type]
    assert ignored._open(record(waitlisted()))[2] is None  # type: ignore[arg-type]
    assert envelope.event_type == "ClientWaitlisted"


def test_an_old_version_whose_upcaster_fails_is_dead_lettered_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from zorgstroom_contracts import upcasting
    from zorgstroom_contracts.envelope import _one_pass, _typed_envelopes

    def rebuilt() -> None:  # the one-pass models follow the specs of the moment
        _typed_envelopes.cache_clear()
        _one_pass.cache_clear()

    from zorgstroom_contracts.events import EVENT_TYPES, EventSpec
    from zorgstroom_runtime.delivery import open_record

    old = record(waitlisted())  # written as version 1, before version 2 exists
    spec = EVENT_TYPES["ClientWaitlisted"]
    monkeypatch.setitem(
        EVENT_TYPES, "ClientWaitlisted", EventSpec(spec.event_type, spec.model, 2, spec.topic, spec.key_field)
    )

    def broken_step(data: dict) -> dict:  # type: ignore[type-arg]
        return {**data, "urgency": data["priority"]}  # v1 has no such field: KeyError

    monkeypatch.setitem(upcasting.UPCASTERS, ("ClientWaitlisted", 1), broken_step)
    rebuilt()
    try:
        with pytest.raises(DeadLetter) as dead:
            open_record(old, lambda _: True, one_pass=True)  # type: ignore[arg-type]
    finally:
        monkeypatch.undo()
        rebuilt()
    assert dead.value.error_type == "UpcastFailed" and "could not be upcast: KeyError" in dead.value.reason


async def test_a_dead_letter_too_large_to_send_whole_goes_without_its_value_instead_of_holding_the_partition() -> None:
    from aiokafka.errors import MessageSizeTooLargeError

    from zorgstroom_runtime.delivery import send_dead_letter

    sent: list[tuple[str, bytes | None, dict[str, bytes]]] = []

    class Dlq:
        async def send_and_wait(self, topic: str, *, value: bytes | None, key: bytes | None, headers: list) -> None:
            if value is not None:
                raise MessageSizeTooLargeError("the message is 1048600 bytes")
            sent.append((topic, value, dict(headers)))

    big = SimpleNamespace(
        topic="t", partition=2, offset=41, key=b"k", value=b"x" * 1_048_000, headers=[("traceparent", b"00-ab")]
    )
    await send_dead_letter(Dlq(), big, DeadLetter("not a valid envelope: ...", "InvalidEnvelope"), "g", "s")  # type: ignore[arg-type]
    ((topic, value, headers),) = sent
    assert (topic, value) == ("t.dlq", None)
    assert headers["dlq-value-omitted"] == b"too large"
    assert headers["dlq-reason"].startswith(b"value omitted, too large: not a valid envelope")
    assert (headers["dlq-source-partition"], headers["dlq-source-offset"]) == (b"2", b"41")  # where it still is
