"""Keeping the waiting list (docs/domain.md, rules 11 and 15) in placement's service layer: the responsible
municipality updates or withdraws a waiting registration; a withdrawn one is never placed."""

from dataclasses import replace
from datetime import date

import pytest

from tests.support.fake_placement import (
    FakeUnits,
    FakeWaitingList,
    client_registered,
    facility_put,
    municipality,
    region_staff,
)
from tests.support.infra import ROOT
from zorgstroom_contracts.codes import WithdrawalReason
from zorgstroom_placement.domain.waiting_list import RegistrationStatus, WaitingClient
from zorgstroom_placement.schemas import RegistrationUpdate
from zorgstroom_placement.service_layer import facilities, waiting_list
from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
TODAY = date(2027, 3, 31)
ALMERE = municipality("0034")


async def register(units: FakeUnits, intake_id: str, client: str, **overrides: object) -> None:
    async with units.event() as uow:
        await waiting_list.register(uow, REGION, client_registered(intake_id, client, **overrides), TODAY)


async def update(units: FakeUnits, intake_id: str, who: Principal = ALMERE, **body: object) -> dict[str, object]:
    changes = RegistrationUpdate.model_validate(body)
    return await waiting_list.update_registration(units, REGION, who, intake_id, changes, TODAY)


async def withdraw(units: FakeUnits, intake_id: str, on: date | None = None) -> dict[str, object]:
    reason = WithdrawalReason.DUPLICATE
    return await waiting_list.withdraw_registration(units, REGION, ALMERE, intake_id, reason, on, TODAY)


async def test_an_update_answers_the_registration_as_it_now_stands_and_emits_it() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    now = await update(units, "i-1", urgency="high", household={"adults": 1, "children": 2}, needs=["addiction"])
    assert (now["urgency"], now["household"], now["needs"], now["status"]) == (
        "high",
        {"adults": 1, "children": 2},
        ["addiction"],
        "waiting",
    )
    (updated,) = units.store.events("RegistrationUpdated")
    assert updated["urgency"] == "high" and updated["updated_on"] == "2027-03-31" and updated["intake_id"] == "i-1"
    assert units.store.audit[-1]["action"] == "registration.update"


async def test_a_higher_urgency_moves_a_registration_up_the_list_and_into_the_free_place() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1", registered_on=date(2027, 3, 1))
    await register(units, "i-2", "c2", registered_on=date(2027, 3, 2))
    listed = await waiting_list.read_waiting_list(units, REGION, region_staff(), None, None, TODAY)
    assert [c["position"] for c in listed] == [1, 2]
    await update(units, "i-2", urgency="emergency", updated_on=date(2027, 3, 15))
    listed = await waiting_list.read_waiting_list(units, REGION, region_staff(), None, None, TODAY)
    assert [c["urgency"] for c in listed] == ["emergency", "normal"]
    await facilities.put_facility(
        units, REGION, region_staff(), "almere-1", facility_put("11111111", "0034", "WK003401", 1), TODAY
    )
    (made,) = units.store.events("PlacementMade")
    assert made["intake_id"] == "i-2"


async def test_an_update_that_fits_a_free_place_is_matched_at_once_from_today_whatever_its_date() -> None:
    units = FakeUnits()
    await facilities.put_facility(
        units,
        REGION,
        region_staff(),
        "almere-1",
        facility_put("11111111", "0034", "WK003401", 1, supported_needs=["psychiatric"]),
        date(2027, 3, 1),
    )
    await register(units, "i-1", "c1", needs=["psychiatric", "addiction"])
    assert units.store.events("PlacementMade") == []  # the facility does not support addiction
    await update(units, "i-1", needs=["psychiatric"], updated_on=date(2027, 3, 20))
    (made,) = units.store.events("PlacementMade")
    assert made["start_date"] == "2027-03-31"  # the match is today's; 20 March only dates the update
    (updated,) = units.store.events("RegistrationUpdated")
    assert updated["updated_on"] == "2027-03-20"


async def test_a_backdated_update_does_not_backdate_the_place_another_client_gets() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1", registered_on=date(2027, 3, 1))
    await register(units, "i-2", "c2", registered_on=date(2027, 3, 2))
    await register(units, "i-3", "c3", registered_on=date(2027, 3, 3), needs=["addiction"])
    body = facility_put("11111111", "0034", "WK003401", 1, supported_needs=["psychiatric"])
    await facilities.put_facility(units, REGION, region_staff(), "almere-1", body, TODAY)  # c1 in; c2, c3 wait
    facility = units.store.facilities["almere-1"]
    units.store.facilities["almere-1"] = replace(facility, capacity=2)  # a place free that no matcher saw yet
    await update(units, "i-3", urgency="high", updated_on=date(2027, 3, 5))  # c3 does not fit; c2 does
    (placed,) = [e for e in units.store.events("PlacementMade") if e["intake_id"] == "i-2"]
    assert placed["start_date"] == "2027-03-31"


async def test_another_municipality_or_an_unknown_registration_is_refused() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    with pytest.raises(Forbidden):
        await update(units, "i-1", who=municipality("0995"), urgency="high")
    with pytest.raises(NotFound):
        await update(units, "i-9", urgency="high")
    with pytest.raises(InvalidField) as ahead:
        await update(units, "i-1", urgency="high", updated_on=date(2027, 4, 1))
    with pytest.raises(InvalidField) as outside:
        await update(units, "i-1", preferred_municipalities=["0034", "0150"])
    assert (ahead.value.field, outside.value.field) == ("updated_on", "preferred_municipalities.1")
    assert units.store.events("RegistrationUpdated") == []


async def test_a_withdrawn_registration_leaves_the_list_and_is_never_placed() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    answer = await withdraw(units, "i-1", date(2027, 3, 20))
    assert answer["status"] == "withdrawn"
    (withdrawn,) = units.store.events("RegistrationWithdrawn")
    assert (withdrawn["reason"], withdrawn["withdrawn_on"], withdrawn["care_form"]) == (
        "duplicate",
        "2027-03-20",
        "MO_24H",
    )
    assert await waiting_list.read_waiting_list(units, REGION, region_staff(), None, None, TODAY) == []
    await facilities.put_facility(
        units, REGION, region_staff(), "almere-1", facility_put("11111111", "0034", "WK003401", 1), TODAY
    )
    assert units.store.events("PlacementMade") == []


async def test_a_registration_no_longer_waiting_cannot_be_changed() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await withdraw(units, "i-1")
    with pytest.raises(Conflict) as again:
        await withdraw(units, "i-1")
    with pytest.raises(Conflict) as changed:
        await update(units, "i-1", urgency="high")
    assert again.value.kind == changed.value.kind == "registration-not-waiting"


async def test_a_withdrawal_dated_beyond_today_or_before_the_registration_is_refused() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1", registered_on=date(2027, 3, 10))
    with pytest.raises(InvalidField) as ahead:
        await withdraw(units, "i-1", date(2027, 4, 1))
    with pytest.raises(InvalidField) as before:
        await withdraw(units, "i-1", date(2027, 3, 9))
    assert ahead.value.field == before.value.field == "withdrawn_on"
    assert units.store.events("RegistrationWithdrawn") == []


def test_an_update_must_change_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RegistrationUpdate.model_validate({"updated_on": "2027-03-01"})


async def test_a_registration_withdrawn_after_the_matcher_read_it_is_not_placed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await withdraw(units, "i-1")
    stale = {"i-1": replace(units.store.registrations["i-1"], status=RegistrationStatus.WAITING)}

    async def read_before_the_withdrawal(self: FakeWaitingList, care_form: str) -> list[WaitingClient]:
        return [
            WaitingClient(
                r.client_ref,
                r.care_form,
                r.responsible_municipality,
                r.urgency,
                r.waiting_since,
                frozenset(r.needs),
                (),
                r.intake_id,
            )
            for r in stale.values()
        ]

    monkeypatch.setattr(FakeWaitingList, "to_place", read_before_the_withdrawal)
    await facilities.put_facility(
        units, REGION, region_staff(), "almere-1", facility_put("11111111", "0034", "WK003401", 1), TODAY
    )
    assert units.store.events("PlacementMade") == [] and units.store.placements == {}
    assert units.store.registrations["i-1"].status is RegistrationStatus.WITHDRAWN
    assert units.store.facilities["almere-1"].occupied == 0


async def test_an_update_or_withdrawal_takes_the_care_forms_matching_turn_before_the_row() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await register(units, "i-2", "c2")
    for intake_id, change in (("i-1", update(units, "i-1", urgency="high")), ("i-2", withdraw(units, "i-2"))):
        units.store.locks.clear()
        await change
        locks = units.store.locks
        assert "turn MO_24H" in locks and locks.index("turn MO_24H") < locks.index(f"registration {intake_id}")


async def test_each_waiting_list_entry_names_its_intake_and_status() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    (entry,) = await waiting_list.read_waiting_list(units, REGION, ALMERE, None, None, TODAY)
    assert (entry["intake_id"], entry["status"], entry["position"]) == ("i-1", "waiting", 1)
