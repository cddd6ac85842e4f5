"""Doorstroom (docs/domain.md, rule 10) in placement's service layer: a client in shelter waits for another
care form while keeping the place; matched, the current placement ends the same day with 37 and the place
freed goes to the next client of that care form. Without an allowed pair a placed client is not matched."""

from datetime import date

from tests.support.fake_placement import FakeUnits, client_registered, facility_put, name, ref, region_staff
from tests.support.infra import ROOT
from zorgstroom_contracts.events import HousingOfferAccepted
from zorgstroom_placement.domain.doorstroom import feeders, turn_order
from zorgstroom_placement.domain.waiting_list import RegistrationStatus
from zorgstroom_placement.service_layer import facilities, placements, waiting_list
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


async def test_after_an_outflow_the_clients_doorstroom_registration_is_withdrawn_and_never_placed() -> None:
    units = FakeUnits()
    await put(units, "night-1", "WK003401", 1, "MO_NIGHT", date(2027, 3, 1))
    await register(units, "i-night", "c1", care_form="MO_NIGHT", registered_on=date(2027, 3, 1))
    await register(units, "i-24h", "c1", care_form="MO_24H", registered_on=date(2027, 3, 5))
    offer = HousingOfferAccepted(
        offer_id="o-1", unit_id="u-1", client_ref=ref("c1"), answered_on=date(2027, 3, 20), municipality="0034"
    )
    async with units.event() as uow:
        ended = await placements.complete_outflow(uow, REGION, offer, TODAY)
        assert ended is not None
        await placements.give_freed_place(uow, REGION, ended)
    (withdrawn,) = units.store.events("RegistrationWithdrawn")
    assert (withdrawn["intake_id"], withdrawn["reason"], withdrawn["withdrawn_on"]) == (
        "i-24h",
        "other_solution",
        "2027-03-20",
    )
    assert units.store.registrations["i-24h"].status is RegistrationStatus.WITHDRAWN
    await put(units, "24h-1", "WK003402", 1, "MO_24H", TODAY)
    assert [(n, e["care_form"]) for n, e in events(units, "PlacementMade")] == [("c1", "MO_NIGHT")]


def test_turns_go_from_target_to_source_along_the_doorstroom_pairs() -> None:
    policy = REGION.placement  # MO_EMERGENCY -> MO_NIGHT -> MO_24H -> BW_24H, and shortcuts
    assert turn_order(policy, ["MO_EMERGENCY", "BW_24H", "MO_NIGHT", "MO_24H", "BW_HOME"]) == [
        "BW_24H",
        "BW_HOME",
        "MO_24H",
        "MO_NIGHT",
        "MO_EMERGENCY",
    ]
    assert feeders(policy, "MO_NIGHT") == {"MO_NIGHT", "MO_EMERGENCY"}
    assert feeders(policy, "BW_HOME") == {"BW_HOME"}


def _turns_in_order(locks: list[str]) -> bool:
    first_taken = list(dict.fromkeys(lock.removeprefix("turn ") for lock in locks if lock.startswith("turn ")))
    return first_taken == turn_order(REGION.placement, first_taken)


async def test_a_facility_changing_care_form_takes_its_turns_in_the_matchers_order() -> None:
    units = FakeUnits()
    await put(units, "f-1", "WK003401", 1, "MO_EMERGENCY", date(2027, 3, 1))
    units.store.locks.clear()
    await put(units, "f-1", "WK003401", 1, "MO_NIGHT", date(2027, 3, 2))  # by name MO_EMERGENCY came first
    assert units.store.locks[:2] == ["turn MO_NIGHT", "turn MO_EMERGENCY"]
    assert _turns_in_order(units.store.locks)


async def test_a_chain_of_doorstroom_moves_takes_its_turns_in_the_matchers_order() -> None:
    units = FakeUnits()
    await put(units, "emergency-1", "WK003401", 1, "MO_EMERGENCY", date(2027, 3, 1))
    await put(units, "night-1", "WK003402", 1, "MO_NIGHT", date(2027, 3, 1))
    await register(units, "i-e", "c1", care_form="MO_EMERGENCY", registered_on=date(2027, 3, 1))
    await register(units, "i-n", "c2", care_form="MO_NIGHT", registered_on=date(2027, 3, 1))
    await register(units, "i-e-bw", "c1", care_form="BW_24H", registered_on=date(2027, 3, 2))
    await register(units, "i-n-bw", "c2", care_form="BW_24H", registered_on=date(2027, 3, 3))
    units.store.locks.clear()
    await put(units, "bw-1", "WK003403", 2, "BW_24H", date(2027, 3, 10))  # both move on, from two care forms
    assert {e["intake_id"] for e in units.store.events("PlacementMade")} >= {"i-e-bw", "i-n-bw"}
    assert _turns_in_order(units.store.locks)
