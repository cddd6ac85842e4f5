"""Doorstroom (docs/domain.md, rule 10) in placement's service layer: a client in shelter waits for another
care form while keeping the place; matched, the current placement ends the same day with 37 and the place
freed goes to the next client of that care form. Without an allowed pair a placed client is not matched."""

from datetime import date

from tests.support.fake_placement import FakeUnits, client_registered, facility_put, name, region_staff
from tests.support.infra import ROOT
from zorgstroom_placement.service_layer import facilities, waiting_list
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
TODAY = date(2027, 3, 31)
A = "11111111"


async def register(units: FakeUnits, intake_id: str, client: str, **overrides: object) -> None:
    async with units.event() as uow:
        await waiting_list.register(uow, REGION, client_registered(intake_id, client, **overrides), TODAY)


async def put(units: FakeUnits, facility_id: str, wijk: str, capacity: int, care_form: str, on: date) -> None:
    body = facility_put(A, "0034", wijk, capacity, care_form=care_form)
    await facilities.put_facility(units, REGION, region_staff(), facility_id, body, on)


def events(units: FakeUnits, event_type: str) -> list[tuple[str, dict[str, object]]]:
    return [(name(str(e["client_ref"])), e) for e in units.store.events(event_type)]


async def test_a_client_in_night_shelter_moves_on_to_24_hour_shelter_the_same_day() -> None:
    units = FakeUnits()
    await put(units, "night-1", "WK003401", 1, "MO_NIGHT", date(2027, 3, 1))
    await register(units, "i-night", "c1", care_form="MO_NIGHT", registered_on=date(2027, 3, 1))
    await register(units, "i-24h", "c1", care_form="MO_24H", registered_on=date(2027, 3, 5))
    await register(units, "i-next", "c2", care_form="MO_NIGHT", registered_on=date(2027, 3, 6))
    assert [n for n, _ in events(units, "PlacementMade")] == ["c1"]  # c2 waits: the night place is taken
    await put(units, "24h-1", "WK003402", 1, "MO_24H", date(2027, 3, 20))
    made = events(units, "PlacementMade")
    (ended,) = units.store.events("PlacementEnded")
    moved = next(e for n, e in made if n == "c1" and e["care_form"] == "MO_24H")
    assert ended["reason"] == "37" and ended["doorstroom_to"] == "MO_24H" and ended["end_date"] == "2027-03-20"
    assert ended["next_placement_id"] == moved["placement_id"] and ended["intake_id"] == "i-night"
    assert moved["doorstroom_from"] == ended["placement_id"] and moved["start_date"] == "2027-03-20"
    assert moved["waited_days"] == 15  # waiting for 24-hour shelter since 5 March
    follower = next(e for n, e in made if n == "c2")
    assert follower["facility_id"] == "night-1" and follower["start_date"] == "2027-03-20"
    assert units.store.facilities["night-1"].occupied == 1 and units.store.facilities["24h-1"].occupied == 1


async def test_without_an_allowed_pair_a_placed_client_is_not_matched() -> None:
    units = FakeUnits()
    await put(units, "24h-1", "WK003401", 1, "MO_24H", date(2027, 3, 1))
    await register(units, "i-24h", "c1", care_form="MO_24H", registered_on=date(2027, 3, 1))
    await register(units, "i-night", "c1", care_form="MO_NIGHT", registered_on=date(2027, 3, 2))
    await put(units, "night-1", "WK003402", 1, "MO_NIGHT", date(2027, 3, 10))  # 24h -> night is no doorstroom
    assert [(n, e["care_form"]) for n, e in events(units, "PlacementMade")] == [("c1", "MO_24H")]
    assert units.store.events("PlacementEnded") == []


async def test_a_client_waiting_without_a_place_is_matched_as_ever() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1", care_form="BW_24H", registered_on=date(2027, 3, 1))
    await put(units, "bw-1", "WK003401", 1, "BW_24H", date(2027, 3, 2))
    ((who, made),) = events(units, "PlacementMade")
    assert who == "c1" and made["doorstroom_from"] is None and made["product_category"] == "15"
