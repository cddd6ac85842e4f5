"""Housing over HTTP: a corporation offers units and sets its quotas, for itself only."""

import json

from tests.support.kafka import read_topic
from tests.support.stack import Namespace, running
from zorgstroom_housing.bootstrap import build

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
