"""Placement's service layer on the in-memory unit of work: registrations that join the list and are placed
by the rules, facilities and the wijk cap, assessments, endings, outflow, a provider's own placements and
reading the list. No HTTP, no database."""

from datetime import date
from typing import Any

import pytest

from tests.support.fake_placement import (
    FakeUnits,
    client_registered,
    facility_put,
    municipality,
    name,
    provider,
    ref,
    region_staff,
)
from tests.support.infra import ROOT
from zorgstroom_contracts.codes import EndReason, TransferReason, ZrmDomain
from zorgstroom_contracts.events import HousingOfferAccepted
from zorgstroom_placement.domain.facilities import Facility
from zorgstroom_placement.schemas import AssessmentCreate, PlacementEnd
from zorgstroom_placement.service_layer import facilities, placements, transfers, waiting_list
from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
TODAY = date(2027, 3, 31)
A, B = "11111111", "22222222"


async def register(units: FakeUnits, intake_id: str, client_ref: str, **overrides: object) -> None:
    async with units.event() as uow:
        await waiting_list.register(uow, REGION, client_registered(intake_id, client_ref, **overrides), TODAY)


async def put(
    units: FakeUnits,
    facility_id: str,
    provider_agb: str,
    municipality: str,
    wijk: str | None,
    capacity: int,
    *,
    who: Principal | None = None,
    on: date = TODAY,
    **extra: Any,
) -> tuple[Facility, bool]:
    body = facility_put(provider_agb, municipality, wijk, capacity, **extra)
    return await facilities.put_facility(units, REGION, who or region_staff(), facility_id, body, on)


def made(units: FakeUnits) -> dict[str, dict[str, object]]:
    return {name(str(e["client_ref"])): e for e in units.store.events("PlacementMade")}


async def test_a_registration_joins_the_list_once_however_often_it_arrives() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await register(units, "i-1", "c1")
    assert units.store.event_types() == ["ClientWaitlisted"]
    listed = await waiting_list.read_waiting_list(units, REGION, region_staff(), None, None, TODAY)
    assert [(name(str(c["client_ref"])), c["position"], c["waiting_days"]) for c in listed] == [("c1", 1, 30)]


async def test_waiting_clients_are_placed_by_urgency_then_municipality_then_preference() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1", registered_on=date(2027, 3, 1))
    await register(units, "i-2", "c2", registered_on=date(2027, 3, 2), preferred_municipalities=["0995"])
    await register(units, "i-3", "c3", registered_on=date(2027, 3, 3), responsible_municipality="0184")
    await register(units, "i-4", "c4", registered_on=date(2027, 3, 10), urgency="emergency")
    await put(units, "almere-1", A, "0034", "WK003401", 2)
    await put(units, "lelystad-1", B, "0995", "WK099501", 2)
    placed = made(units)
    assert {ref: e["facility_id"] for ref, e in placed.items()} == {
        "c4": "almere-1",
        "c1": "almere-1",
        "c2": "lelystad-1",
        "c3": "lelystad-1",
    }
    assert placed["c4"]["product_category"] == "16" and placed["c4"]["unit"] == "14"
    assert placed["c4"]["start_date"] == "2027-03-31" and placed["c4"]["waited_days"] == 21
    own = [to for e, to in units.store.emitted if e.event_type == "PlacementMade" and e.data["client_ref"] == ref("c4")]
    assert own == [("wmo.provider.11111111.v1",)]


async def test_a_facility_over_the_wijk_cap_is_refused_and_changes_nothing() -> None:
    units = FakeUnits()
    await put(units, "almere-1", A, "0034", "WK003401", 50)
    with pytest.raises(Conflict) as refused:
        await put(units, "almere-2", A, "0034", "WK003401", 11)  # cap 60 in WK003401
    assert refused.value.kind == "wijk-cap-exceeded" and refused.value.extensions == {"wijk": "WK003401", "cap": 60}
    assert set(units.store.facilities) == {"almere-1"} and units.store.wijk_places == {"WK003401": 50}
    assert await put(units, "almere-2", A, "0034", "WK003401", 10)


async def test_a_capacity_below_the_places_in_use_is_refused() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await register(units, "i-2", "c2")
    await put(units, "almere-1", A, "0034", "WK003401", 2)
    with pytest.raises(Conflict) as refused:
        await put(units, "almere-1", A, "0034", "WK003401", 1)
    assert refused.value.kind == "capacity-below-occupancy" and refused.value.extensions == {"occupied": 2}


async def test_care_forms_are_the_regions_and_an_ambulant_team_has_no_wijk() -> None:
    units = FakeUnits()
    with pytest.raises(InvalidField) as unknown:
        await put(units, "x-1", A, "0034", "WK003401", 5, care_form="MO_CLUSTERED")
    with pytest.raises(InvalidField) as team_with_wijk:
        await put(units, "team-1", A, "0034", "WK003401", 5, care_form="BW_HOME")
    with pytest.raises(InvalidField) as building_without_wijk:
        await put(units, "x-2", A, "0034", None, 5)
    assert (unknown.value.field, team_with_wijk.value.field, building_without_wijk.value.field) == (
        "care_form",
        "wijk",
        "wijk",
    )
    team, created = await put(units, "team-1", A, "0034", None, 30, care_form="BW_HOME")
    assert created and team.wijk is None and units.store.wijk_places == {}


async def test_a_provider_changes_only_its_own_facilities() -> None:
    units = FakeUnits()
    await put(units, "almere-1", A, "0034", "WK003401", 2, who=provider(A))
    with pytest.raises(Forbidden):
        await put(units, "almere-1", B, "0034", "WK003401", 3, who=provider(B))
    with pytest.raises(Forbidden):
        await put(units, "almere-2", A, "0034", "WK003401", 3, who=municipality("0034"))


async def placed_client(units: FakeUnits) -> str:
    await register(units, "i-1", "c1")
    await put(units, "almere-1", A, "0034", "WK003401", 1, on=date(2027, 3, 10))
    return str(made(units)["c1"]["placement_id"])


def assessment(**overrides: object) -> AssessmentCreate:
    body = {"assessed_on": "2027-03-20", "scores": {d.value: 4 for d in ZrmDomain}, "client_wants_to_move": True}
    return AssessmentCreate.model_validate(body | overrides)


async def test_an_assessment_decides_readiness_by_the_regions_policy_and_the_clients_wish() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    event, _ = await placements.assess(units, REGION, provider(A), placement_id, assessment(), TODAY)
    assert event.ready is True and event.support_at_home is False
    low = {d.value: 4 for d in ZrmDomain} | {"finances": 3}
    event, _ = await placements.assess(units, REGION, provider(A), placement_id, assessment(scores=low), TODAY)
    assert event.ready is True and event.support_at_home is True  # 3 meets the threshold, below 4 needs support
    event, _ = await placements.assess(
        units, REGION, provider(A), placement_id, assessment(client_wants_to_move=False), TODAY
    )
    assert event.ready is False
    assert [a["ready"] for a in units.store.assessments] == [True, True, False]


async def test_an_assessment_after_a_transfers_date_names_the_new_municipality() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    proposal = await transfers.propose(
        units, REGION, municipality("0034"), ref("c1"), "0303", TransferReason.ORIGIN, date(2027, 4, 10), TODAY
    )
    await transfers.accept(units, REGION, municipality("0303"), proposal.transfer_id, None, TODAY)
    later = date(2027, 4, 12)
    event, _ = await placements.assess(
        units, REGION, provider(A), placement_id, assessment(assessed_on="2027-04-12"), later
    )
    assert event.responsible_municipality == "0303"


async def test_only_the_provider_assesses_and_not_before_the_placement() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    with pytest.raises(Forbidden):
        await placements.assess(units, REGION, provider(B), placement_id, assessment(), TODAY)
    with pytest.raises(InvalidField) as early:
        await placements.assess(units, REGION, provider(A), placement_id, assessment(assessed_on="2027-03-01"), TODAY)
    with pytest.raises(NotFound):
        await placements.assess(units, REGION, provider(A), "nope", assessment(), TODAY)
    assert early.value.field == "assessed_on" and units.store.assessments == []


async def test_an_ending_frees_a_place_that_the_next_waiting_client_gets() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    await register(units, "i-2", "c2", registered_on=date(2027, 3, 20))
    ending = PlacementEnd(reason=EndReason.ENDED_BY_CLIENT, end_date=date(2027, 3, 25))
    event, _ = await placements.end(units, REGION, provider(A), placement_id, ending, TODAY)
    assert (event.care_form, event.intake_id, event.reason) == ("MO_24H", "i-1", EndReason.ENDED_BY_CLIENT)
    assert made(units)["c2"]["start_date"] == "2027-03-25" and made(units)["c2"]["waited_days"] == 5
    with pytest.raises(Conflict) as again:
        await placements.end(units, REGION, provider(A), placement_id, ending, TODAY)
    assert again.value.kind == "placement-ended"


async def test_an_ending_dated_beyond_today_is_refused_naming_end_date() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    ending = PlacementEnd(reason=EndReason.ENDED_BY_CLIENT, end_date=date(2027, 4, 1))
    with pytest.raises(InvalidField) as refused:
        await placements.end(units, REGION, municipality("0034"), placement_id, ending, TODAY)
    assert refused.value.field == "end_date" and units.store.events("PlacementEnded") == []
    with pytest.raises(Forbidden):
        ending = PlacementEnd(reason=EndReason.ENDED_BY_CLIENT, end_date=TODAY)
        await placements.end(units, REGION, municipality("0995"), placement_id, ending, TODAY)


async def test_an_accepted_offer_ends_the_placement_with_19_and_records_the_outflow() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    await register(units, "i-2", "c2", registered_on=date(2027, 3, 2))
    offer = HousingOfferAccepted(
        offer_id="o-1", unit_id="u-1", client_ref=ref("c1"), answered_on=date(2027, 3, 30), municipality="0034"
    )
    async with units.event() as uow:
        ended = await placements.complete_outflow(uow, REGION, offer, TODAY)
        assert ended is not None
        await placements.give_freed_place(uow, REGION, ended)
    (outflow,) = units.store.events("OutflowCompleted")
    assert (outflow["placement_id"], outflow["outflow_date"]) == (placement_id, "2027-03-30")
    assert ended.end_date == date(2027, 3, 30)
    (ended,) = units.store.events("PlacementEnded")
    assert (ended["reason"], ended["care_form"], ended["intake_id"]) == ("19", "MO_24H", "i-1")
    assert made(units)["c2"]["start_date"] == "2027-03-30"  # the freed place goes to the next client


async def test_the_providers_copies_leave_out_the_wait_the_intake_and_the_new_home() -> None:
    units = FakeUnits()
    await placed_client(units)
    offer = HousingOfferAccepted(
        offer_id="o-1", unit_id="u-1", client_ref=ref("c1"), answered_on=date(2027, 3, 30), municipality="0034",
        wijk="WK003401",
    )  # fmt: skip
    async with units.event() as uow:
        await placements.complete_outflow(uow, REGION, offer, TODAY)
    copies = {e.event_type: (e.data, units.store.copies[e.event_id]) for e, to in units.store.emitted if to}
    regional, for_provider = copies["PlacementMade"]
    assert regional["waited_days"] is not None and regional["intake_id"] == "i-1"
    assert (for_provider.waited_days, for_provider.intake_id) == (None, None)  # type: ignore[attr-defined]
    assert for_provider.client_ref == regional["client_ref"]  # type: ignore[attr-defined]
    regional, for_provider = copies["OutflowCompleted"]
    assert (regional["unit_id"], regional["wijk"]) == ("u-1", "WK003401")
    assert (for_provider.unit_id, for_provider.wijk) == (None, None)  # type: ignore[attr-defined]
    assert for_provider.outflow_date == date(2027, 3, 30)  # type: ignore[attr-defined]


async def test_an_offer_accepted_by_a_client_without_a_place_is_refused_not_dead_lettered() -> None:
    units = FakeUnits()
    offer = HousingOfferAccepted(
        offer_id="o-1", unit_id="u-1", client_ref=ref("c9"), answered_on=TODAY, municipality="0034"
    )
    async with units.event() as uow:
        assert await placements.complete_outflow(uow, REGION, offer, TODAY) is None
    (refused,) = units.store.events("OutflowRefused")
    assert (refused["offer_id"], refused["reason"], refused["refused_on"]) == ("o-1", "no_open_placement", str(TODAY))


async def test_an_offer_accepted_after_its_placement_ended_is_refused_and_the_next_placement_stays() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    ending = PlacementEnd(reason=EndReason.ENDED_BY_CLIENT, end_date=date(2027, 3, 20))
    await placements.end(units, REGION, municipality("0034"), placement_id, ending, TODAY)
    offer = HousingOfferAccepted(
        offer_id="o-1", unit_id="u-1", client_ref=ref("c1"), answered_on=date(2027, 3, 30), municipality="0034",
        placement_id=placement_id, corporation_id="woonstad",
    )  # fmt: skip
    async with units.event() as uow:
        assert await placements.complete_outflow(uow, REGION, offer, TODAY) is None
    (refused,) = units.store.events("OutflowRefused")
    assert (refused["placement_id"], refused["reason"], refused["corporation_id"]) == (
        placement_id,
        "placement_ended",
        "woonstad",
    )
    assert units.store.events("OutflowCompleted") == [] and len(units.store.events("PlacementEnded")) == 1


async def test_an_offer_naming_another_clients_placement_is_invalid() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    offer = HousingOfferAccepted(
        offer_id="o-1", unit_id="u-1", client_ref=ref("c9"), answered_on=TODAY, municipality="0034",
        placement_id=placement_id,
    )  # fmt: skip
    async with units.event() as uow:
        with pytest.raises(placements.NoPlaceToLeave):
            await placements.complete_outflow(uow, REGION, offer, TODAY)


async def test_a_provider_reads_only_its_own_open_placements() -> None:
    units = FakeUnits()
    await placed_client(units)
    found = await placements.provider_placements(units, REGION, provider(A), A, TODAY)
    assert [(name(p.client_ref), p.care_form) for p in found] == [("c1", "MO_24H")]
    with pytest.raises(Forbidden):
        await placements.provider_placements(units, REGION, provider(B), A, TODAY)
    assert [a["action"] for a in units.store.audit][-1] == "placements.read"


async def test_a_municipality_reads_its_own_clients_with_their_regional_position() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1", responsible_municipality="0995", registered_on=date(2027, 3, 1))
    await register(units, "i-2", "c2", registered_on=date(2027, 3, 2))
    listed = await waiting_list.read_waiting_list(units, REGION, municipality("0034"), None, None, TODAY)
    assert [(name(str(c["client_ref"])), c["position"]) for c in listed] == [("c2", 2)]
    with pytest.raises(Forbidden):
        await waiting_list.read_waiting_list(units, REGION, municipality("0034"), None, "0995", TODAY)
    with pytest.raises(Forbidden):
        await waiting_list.read_waiting_list(units, REGION, provider(A), None, None, TODAY)
    assert units.store.audit[0]["action"] == "waiting_list.read"


async def test_an_ending_takes_the_care_forms_matching_turn_before_the_placements_row() -> None:
    units = FakeUnits()
    placement_id = await placed_client(units)
    units.store.locks.clear()
    ending = PlacementEnd(reason=EndReason.ENDED_BY_CLIENT, end_date=TODAY)
    await placements.end(units, REGION, provider(A), placement_id, ending, TODAY)
    locks = units.store.locks
    assert locks.index("turn MO_24H") < locks.index(f"placement {placement_id}")
