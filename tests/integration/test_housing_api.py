"""Housing over HTTP and on its own tables: a corporation offers units and sets its quotas, for itself only;
who a home goes to follows transfers per episode and doorstroom."""

import json
from datetime import date, timedelta

from tests.support.kafka import read_topic
from tests.support.stack import Namespace, running
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.codes import EndReason, TransferReason
from zorgstroom_contracts.events import (
    ConsentRecorded,
    Event,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_housing.bootstrap import build
from zorgstroom_housing.entrypoints.events import HANDLERS

UNIT = {
    "corporation_id": "woonstad-illustratief",
    "unit_id": "unit-1",
    "municipality": "0995",
    "wijk": "WK099501",
    "rooms": 2,
    "rent_eur": 650.0,
    "available_from": "2027-03-01",
    "accessible": False,
}


def day(n: int) -> date:
    """The n-th day of a flow that ran in the past year: no offer is dated after today."""
    return date.today() - timedelta(days=300) + timedelta(days=n)


async def test_an_answer_dated_after_the_latest_day_allowed_is_refused_naming_answered_on(ns: Namespace) -> None:
    ahead = (date.today() + timedelta(days=1)).isoformat()  # the region allows no business date ahead of today
    auth = ns.auth("corporation")
    async with running(build(ns.settings("housing")), "housing") as housing:
        accepted = await housing.post("/v1/offers/o-1/accept", json={"answered_on": ahead}, headers=auth)
        declined = await housing.post(
            "/v1/offers/o-1/decline", json={"reason": "too_far", "answered_on": ahead}, headers=auth
        )
    for answer in (accepted, declined):
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["answered_on"]


async def test_an_offered_unit_is_published_once_keyed_by_unit(ns: Namespace) -> None:
    async with running(build(ns.settings("housing")), "housing") as housing:
        answer = await housing.post("/v1/housing-units", json=UNIT, headers=ns.auth("corporation"))
        again = await housing.post("/v1/housing-units", json=UNIT, headers=ns.auth("corporation"))
        other = await housing.post("/v1/housing-units", json=UNIT | {"rooms": 3}, headers=ns.auth("corporation"))
        records = await read_topic(ns.infra.kafka_bootstrap, ns.topic("wmo.housing-unit-offered.v1"))
    assert answer.status_code == 202 and again.status_code == 202 and again.json() == answer.json()
    assert again.headers["Idempotent-Replayed"] == "true" and other.status_code == 409
    assert [r.key for r in records] == [b"unit-1"]
    envelope = json.loads(records[0].value)
    assert envelope["event_type"] == "HousingUnitOffered" and envelope["data"]["wijk"] == "WK099501"


async def test_a_unit_in_a_wijk_of_another_municipality_is_refused(ns: Namespace) -> None:
    async with running(build(ns.settings("housing")), "housing") as housing:
        answer = await housing.post(
            "/v1/housing-units", json=UNIT | {"wijk": "WK003401"}, headers=ns.auth("corporation")
        )
    assert answer.status_code == 422 and "WK003401" in answer.json()["errors"][0]["message"]


async def test_a_corporation_acts_only_for_itself(ns: Namespace) -> None:
    async with running(build(ns.settings("housing")), "housing") as housing:
        other = await housing.post(
            "/v1/housing-units", json=UNIT | {"corporation_id": "another"}, headers=ns.auth("corporation")
        )
        municipality = await housing.post("/v1/housing-units", json=UNIT, headers=ns.auth("almere"))
    assert other.status_code == 403 and municipality.status_code == 403


async def test_a_quota_is_set_and_changed_per_corporation_municipality_and_year(ns: Namespace) -> None:
    path = "/v1/contingents/woonstad-illustratief/0995/2027"
    async with running(build(ns.settings("housing")), "housing") as housing:
        first = await housing.put(path, json={"units": 25}, headers=ns.auth("corporation"))
        changed = await housing.put(path, json={"units": 30}, headers=ns.auth("corporation"))
        negative = await housing.put(path, json={"units": -1}, headers=ns.auth("corporation"))
        outside = await housing.put(
            "/v1/contingents/woonstad-illustratief/0150/2027", json={"units": 5}, headers=ns.auth("corporation")
        )
    assert first.json() == {
        "corporation_id": "woonstad-illustratief",
        "municipality": "0995",
        "year": 2027,
        "units": 25,
        "used": 0,
        "reserved": 0,
        "left": 25,
    }
    assert changed.json()["units"] == 30
    assert negative.status_code == 422 and outside.status_code == 422


async def test_transfers_count_per_episode_from_their_date_and_a_doorstroom_withdraws_the_open_offer(
    ns: Namespace,
) -> None:
    """Housing's own tables on real Postgres, fed the events placement would send: a transferred client is
    Lelystad's from the transfer's date, so an Almere home goes to the next client; a doorstroom's new placement,
    arriving before the old one's end, withdraws the open offer once."""
    a, b = "a" * 64, "b" * 64
    async with running(build(ns.settings("housing")), "housing") as housing:
        context = housing._transport.app.state.context  # type: ignore[attr-defined]

        async def deliver(*events: Event) -> None:
            for event in events:
                async with context.unit_of_work() as uow:
                    handler = next(on.handler for on in HANDLERS if isinstance(event, on.event))
                    await handler(uow, Envelope.wrap(event, producer="placement", region="flevoland"), event)

        await deliver(
            *(
                ConsentRecorded(
                    client_ref=c, responsible_municipality="0034", consent_to_share=True, recorded_on=day(0)
                )
                for c in (a, b)
            ),  # both may be offered a home (rule 14)
            placed(a, "p-a", "i1"),
            assessed(a, "p-a", day(26)),
            placed(b, "p-b", "i2"),
            assessed(b, "p-b", day(35)),
            ResponsibilityTransferred(
                client_ref=a,
                from_municipality="0034",
                to_municipality="0995",
                to_in_region=True,
                reason=TransferReason.SOCIAL_NETWORK,
                effective_on=day(115),
                transfer_id="t-1",
                intake_ids=["i1"],
            ),
        )
        auth = ns.auth("corporation")
        for municipality in ("0034", "0995"):
            for year in {day(0).year, date.today().year}:
                path = f"/v1/contingents/{UNIT['corporation_id']}/{municipality}/{year}"
                assert (await housing.put(path, json={"units": 5}, headers=auth)).status_code == 200
        almere = UNIT | {
            "unit_id": "almere-1",
            "municipality": "0034",
            "wijk": "WK003402",
            "available_from": day(116).isoformat(),
        }
        lelystad = UNIT | {"unit_id": "lelystad-1", "available_from": day(116).isoformat()}
        for body in (almere, lelystad):
            assert (await housing.post("/v1/housing-units", json=body, headers=auth)).status_code == 202
        offers = "SELECT unit_id, client_ref, responsible_municipality, status FROM offers ORDER BY unit_id"
        assert [tuple(r) for r in await context.pool.fetch(offers)] == [
            ("almere-1", b, "0034", "open"),
            ("lelystad-1", a, "0995", "open"),
        ]
        await deliver(placed(a, "p-a2", "i3"))  # doorstroom: the new placement first, the old one's end after
        await deliver(ended(a, "p-a", EndReason.CHANGE_REQUEST))
        assert [tuple(r) for r in await context.pool.fetch(offers)] == [
            ("almere-1", b, "0034", "open"),
            ("lelystad-1", a, "0995", "declined"),
        ]
        units = (await housing.get(f"/v1/corporations/{UNIT['corporation_id']}/units", headers=auth)).json()
        assert {u["unit_id"]: u["waiting_reason"] for u in units["units"]}["lelystad-1"] == "no_fitting_client"


def placed(client_ref: str, placement_id: str, intake_id: str) -> PlacementMade:
    return PlacementMade(
        placement_id=placement_id,
        client_ref=client_ref,
        facility_id="bw-almere",
        provider_agb="11111111",
        facility_municipality="0034",
        wijk="WK003401",
        responsible_municipality="0034",
        care_form="BW_24H",
        start_date=day(0),
        waited_days=0,
        intake_id=intake_id,
    )


def assessed(client_ref: str, placement_id: str, on: date) -> OutflowReadinessAssessed:
    return OutflowReadinessAssessed(
        placement_id=placement_id,
        client_ref=client_ref,
        provider_agb="11111111",
        responsible_municipality="0034",
        assessed_on=on,
        ready=True,
    )


def ended(client_ref: str, placement_id: str, reason: EndReason) -> PlacementEnded:
    return PlacementEnded(
        placement_id=placement_id,
        client_ref=client_ref,
        facility_id="bw-almere",
        provider_agb="11111111",
        responsible_municipality="0034",
        reason=reason,
        end_date=day(146),
        doorstroom_to="BW_24H",
    )
