"""The newer facility and the newer quota win by the version their producer raised, not by its clock:
placement and housing number each change on its event, and reporting (live, and rebuilt from offset zero)
keeps the later change although a skewed clock dated it earlier; of two consents recorded for one day, the
later on the topic holds."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.integration.test_placement_api import facility
from tests.integration.test_reporting_numbers import ALMERE, ZRM4, made, registered, reporting_app
from tests.support.kafka import eventually, produce, read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts import Envelope, spec_for, topic_name
from zorgstroom_contracts.events import (
    ConsentRecorded,
    Event,
    FacilityRegistered,
    HousingContingentAgreed,
    OutflowReadinessAssessed,
)
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_ops.rebuild_command import run_rebuild
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_runtime.kafka import KafkaConnection

T = datetime(2027, 2, 1, 12, tzinfo=UTC)
OCCUPANCY, HOUSING = "/v1/region/occupancy?from=2027-02&to=2027-02", "/v1/region/housing?from=2027-01&to=2027-12"


def place(facility_id: str, capacity: int, version: int | None) -> FacilityRegistered:
    return FacilityRegistered(facility_id=facility_id, provider_agb="11111111", name="Illustrative",
                              municipality="0034", wijk="WK003401", care_form="BW_24H", capacity=capacity,
                              supported_needs=["psychiatric"], version=version)  # type: ignore[arg-type]  # fmt: skip


def quota(homes: int, version: int | None) -> HousingContingentAgreed:
    return HousingContingentAgreed(corporation_id="woonstad-illustratief", municipality="0034", year=2027, homes=homes,
                                   version=version)  # fmt: skip


# Each change is published after the one before it, by a producer whose clock says it came 90 s earlier.
CHANGES: list[tuple[int, Event]] = [
    (120, place("fac-a", 5, 1)),
    (30, place("fac-a", 3, 2)),
    (120, place("fac-old", 5, None)),  # history from before versions: the later record on the topic wins
    (30, place("fac-old", 4, None)),
    (120, quota(5, 1)),
    (30, quota(3, 2)),
]


async def publish_skewed(ns: Namespace, changes: list[tuple[int, Event]]) -> None:
    for seconds, event in changes:
        spec = spec_for(event)
        envelope = Envelope.wrap(event, producer="test", region="flevoland", occurred_at=T + timedelta(seconds=seconds))
        record = (spec.key_of(envelope.data).encode(), envelope.model_dump_json().encode(), [])
        await produce(ns.infra.kafka_bootstrap, topic_name(spec.topic, ns.prefix), [record])


async def events_applied(ns: Namespace) -> int:
    conn = await asyncpg.connect(ns.infra.database_url, server_settings={"search_path": f"reporting_{ns.suffix}"})
    try:
        return int(await conn.fetchval("SELECT coalesce(sum(events_applied), 0) FROM projection_position") or 0)
    finally:
        await conn.close()


async def shown(client: Any, ns: Namespace) -> tuple[dict[str, int], list[int]]:
    occupancy = (await client.get(OCCUPANCY, headers=ns.auth("region"))).json()
    housing = (await client.get(HOUSING, headers=ns.auth("region"))).json()
    return {f["facility_id"]: f["capacity"] for f in occupancy["facilities"]}, [q["quota"] for q in housing["offers"]]


@pytest.mark.timeout(120)
async def test_reporting_keeps_the_later_change_whatever_the_clocks_live_and_rebuilt(ns: Namespace) -> None:
    await publish_skewed(ns, CHANGES)
    settings = ns.settings("reporting")
    async with running(reporting_app(settings), "reporting") as client:
        await eventually(lambda: events_applied(ns), until=lambda n: n == len(CHANGES), timeout=60)
        assert await shown(client, ns) == ({"fac-a": 3, "fac-old": 4}, [3])

        kafka = KafkaConnection(ns.infra.kafka_bootstrap)
        rebuilt = await run_rebuild(settings.database_url, settings.schema_name, kafka, ns.prefix, batch_size=1)
        assert rebuilt.applied == len(CHANGES)  # one event per batch: batches written on two connections at once
        assert await shown(client, ns) == ({"fac-a": 3, "fac-old": 4}, [3])


async def versions_on(ns: Namespace, topic: str) -> list[tuple[Any, Any]]:
    """(capacity or homes, version) of each change on the topic, in order."""
    records = await read_topic(ns.infra.kafka_bootstrap, ns.topic(topic), at_least=2)
    changes = [json.loads(r.value)["data"] for r in records]
    return [(data.get("capacity", data.get("homes")), data.get("version")) for data in changes]


async def test_placement_numbers_each_change_of_a_facility(ns: Namespace) -> None:
    async with running(build_placement(ns.settings("placement")), "placement") as placement:
        for capacity in (2, 3):
            answer = await placement.put(
                "/v1/facilities/almere-1",
                json=facility("11111111", "0034", "WK003401", capacity),
                headers=ns.auth("region"),
            )
            assert answer.status_code in (200, 201), answer.text
        assert await versions_on(ns, "wmo.facility-registered.v1") == [(2, 1), (3, 2)]


async def test_housing_numbers_each_change_of_a_quota(ns: Namespace) -> None:
    path = "/v1/contingents/woonstad-illustratief/0995/2027"
    async with running(build_housing(ns.settings("housing")), "housing") as housing:
        for units in (25, 30):
            answer = await housing.put(path, json={"units": units}, headers=ns.auth("corporation"))
            assert answer.status_code == 200, answer.text
        assert await versions_on(ns, "wmo.housing-contingent-agreed.v1") == [(25, 1), (30, 2)]


C1 = "c1" * 32
# A ready client whose consent was recorded twice for one day: given, then withdrawn by a producer whose clock
# is 90 s behind. Housing applies them in the order they arrive, so the withdrawal holds; so must the report.
CONSENTS: list[tuple[int, Event]] = [
    (0, registered("i1", C1, "2027-01-05", consent=False)),
    (0, made("p1", C1, "i1", "fac-a", ALMERE, "BW_24H", "2027-01-15", 10)),
    (0, OutflowReadinessAssessed(placement_id="p1", client_ref=C1, provider_agb="11111111",
                                 responsible_municipality=ALMERE, assessed_on="2027-02-01", scores=ZRM4, ready=True)),  # type: ignore[arg-type]
    (120, ConsentRecorded(client_ref=C1, responsible_municipality=ALMERE, consent_to_share=True,
                          recorded_on="2027-04-10")),  # type: ignore[arg-type]
    (30, ConsentRecorded(client_ref=C1, responsible_municipality=ALMERE, consent_to_share=False,
                         recorded_on="2027-04-10")),  # type: ignore[arg-type]
]  # fmt: skip


async def without_consent_in_april(client: Any, ns: Namespace) -> object:
    body = (await client.get("/v1/municipalities/0034/flows?from=2027-04&to=2027-04", headers=ns.auth("almere"))).json()
    return body["totals"]["ready_no_consent_at_end"]


@pytest.mark.timeout(120)
async def test_of_two_consents_of_one_day_the_later_on_the_topic_holds_live_and_rebuilt(ns: Namespace) -> None:
    await publish_skewed(ns, CONSENTS)
    settings = ns.settings("reporting")
    async with running(reporting_app(settings), "reporting") as client:
        await eventually(lambda: events_applied(ns), until=lambda n: n == len(CONSENTS), timeout=60)
        assert await without_consent_in_april(client, ns) == 1

        kafka = KafkaConnection(ns.infra.kafka_bootstrap)
        rebuilt = await run_rebuild(settings.database_url, settings.schema_name, kafka, ns.prefix, batch_size=1)
        assert rebuilt.applied == len(CONSENTS) and await without_consent_in_april(client, ns) == 1
