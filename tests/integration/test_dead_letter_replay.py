"""Operators list dead letters by reason and replay them once the cause is fixed; nothing is lost."""

from tests.integration.test_delivery import registered_envelope
from tests.support.kafka import eventually, produce
from tests.support.stack import Namespace, running
from zorgstroom_ops import dead_letters
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_runtime.kafka import KafkaConnection


def dead_letter_headers(source: str, error_type: str) -> list[tuple[str, bytes]]:
    return [
        ("event-type", b"ClientRegistered"),
        ("dlq-source-topic", source.encode()),
        ("dlq-error-type", error_type.encode()),
        ("dlq-reason", b"an earlier bug"),
    ]


async def test_dead_letters_are_listed_and_a_fixed_cause_is_replayed_into_the_projection(ns: Namespace) -> None:
    kafka = KafkaConnection(ns.infra.kafka_bootstrap)
    source = ns.topic("wmo.client-registered.v1")
    lost = [registered_envelope("0303", "2027-10-05") for _ in range(20)]  # keys spread over every partition
    await produce(
        ns.infra.kafka_bootstrap,
        source + ".dlq",
        [(e.data["client_ref"].encode(), e.model_dump_json().encode(), dead_letter_headers(source, "HandlerFailed"))
         for e in lost]
        + [(b"k2", b"still not json", dead_letter_headers(source, "InvalidEnvelope"))],
    )  # fmt: skip
    (listed,) = await dead_letters.summarise(kafka, ns.prefix)
    assert (listed.topic, listed.total) == (source + ".dlq", 21)
    assert listed.reasons == {"HandlerFailed": 20, "InvalidEnvelope": 1}

    async with running(build_reporting(ns.settings("reporting")), "reporting") as reporting:
        assert await dead_letters.replay(kafka, source + ".dlq") == 21

        async def dronten_october() -> int:
            answer = await reporting.get(
                "/v1/municipalities/0303/flows?from=2027-10&to=2027-10", headers=ns.auth("dronten")
            )
            return int(answer.json()["totals"]["registrations"])

        await eventually(dronten_october, until=lambda n: n == 20)
        # The still-invalid message came back to the .dlq; a second replay sends only that one.
        await eventually(
            lambda: dead_letters.summarise(kafka, ns.prefix), until=lambda found: found and found[0].total == 22
        )
        assert await dead_letters.replay(kafka, source + ".dlq") == 1
        assert await dronten_october() == 20
