"""Transfers per episode (docs/domain.md, rules 9 and 15) in placement's service layer: proposed by the
responsible municipality, answered by the receiving one, taking effect on their date for that episode only."""

from datetime import date, timedelta

import pytest

from tests.support.fake_placement import (
    FakeUnits,
    client_registered,
    facility_put,
    municipality,
    provider,
    ref,
    region_staff,
)
from tests.support.infra import ROOT
from zorgstroom_contracts.codes import TransferDeclineReason, TransferReason
from zorgstroom_placement.domain.doorstroom import turn_order
from zorgstroom_placement.domain.transfers import Transfer, TransferStatus
from zorgstroom_placement.service_layer import facilities, placements, transfers, waiting_list
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
TODAY = date(2027, 3, 31)
ALMERE, DRONTEN, DEVENTER = municipality("0034"), municipality("0303"), municipality("0150")


async def register(units: FakeUnits, intake_id: str, client: str, today: date = TODAY, **overrides: object) -> None:
    async with units.event() as uow:
        await waiting_list.register(uow, REGION, client_registered(intake_id, client, **overrides), today)


async def propose(
    units: FakeUnits, client: str = "c1", to: str = "0303", effective_on: date = TODAY, who: Principal = ALMERE
) -> Transfer:
    return await transfers.propose(
        units,
        REGION,
        who,
        ref(client),
        to,
        TransferReason.ORIGIN,
        effective_on,
        TODAY,
    )


async def listed(units: FakeUnits, who: Principal, today: date = TODAY) -> list[str]:
    found = await waiting_list.read_waiting_list(units, REGION, who, None, None, today)
    return [str(c["client_ref"]) for c in found]


async def test_a_proposal_names_the_episode_and_changes_nothing_until_accepted() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units)
    assert proposal.status is TransferStatus.PROPOSED and proposal.intake_ids == ("i-1",)
    (proposed,) = units.store.events("ResponsibilityTransferProposed")
    assert (proposed["intake_ids"], proposed["to_in_region"], proposed["proposed_on"]) == (["i-1"], True, "2027-03-31")
    assert await listed(units, ALMERE) == [ref("c1")] and await listed(units, DRONTEN) == []


async def test_an_accepted_transfer_due_today_hands_the_episode_over_at_once() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units, effective_on=date(2027, 3, 15))
    accepted = await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, TODAY)
    assert accepted.status is TransferStatus.ACCEPTED and accepted.applied
    (event,) = units.store.events("ResponsibilityTransferred")
    assert (event["transfer_id"], event["intake_ids"], event["accepted_on"], event["effective_on"]) == (
        proposal.transfer_id,
        ["i-1"],
        "2027-03-31",
        "2027-03-15",
    )
    assert await listed(units, DRONTEN) == [ref("c1")] and await listed(units, ALMERE) == []
    with pytest.raises(Forbidden):  # not Almere's client any more
        await propose(units, to="0995")


async def test_a_transfer_dated_ahead_takes_effect_on_its_date_not_before() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units, effective_on=date(2027, 4, 10))
    await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, TODAY)
    assert await listed(units, ALMERE, date(2027, 4, 9)) == [ref("c1")]
    assert await listed(units, DRONTEN, date(2027, 4, 10)) == [ref("c1")]
    assert await listed(units, ALMERE, date(2027, 4, 10)) == []


async def test_an_open_placement_of_the_episode_follows_the_transfer() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await facilities.put_facility(
        units, REGION, region_staff(), "almere-1", facility_put("11111111", "0034", "WK003401", 1), TODAY
    )
    proposal = await propose(units)
    assert proposal.intake_ids == ("i-1",)  # placed now: part of the episode
    await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, TODAY)
    (open_placement,) = await placements.provider_placements(units, REGION, provider("11111111"), "11111111", TODAY)
    assert open_placement.responsible_municipality == "0303"


async def test_a_later_registration_starts_fresh_with_the_municipality_intake_decided() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units)
    await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, TODAY)
    await register(units, "i-2", "c1", care_form="BW_24H")
    found = await waiting_list.read_waiting_list(units, REGION, region_staff(), None, None, TODAY)
    assert sorted((c["care_form"], c["responsible_municipality"]) for c in found) == [
        ("BW_24H", "0034"),
        ("MO_24H", "0303"),
    ]


async def test_a_declined_transfer_changes_nothing_and_cannot_be_answered_again() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units)
    declined = await transfers.decline(
        units, REGION, DRONTEN, proposal.transfer_id, TransferDeclineReason.NO_TIES, TODAY
    )
    assert declined.status is TransferStatus.DECLINED and declined.decline_reason is TransferDeclineReason.NO_TIES
    (event,) = units.store.events("ResponsibilityTransferDeclined")
    assert event["reason"] == "no_ties" and event["declined_on"] == "2027-03-31"
    with pytest.raises(Conflict) as again:
        await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, TODAY)
    assert again.value.kind == "transfer-answered" and await listed(units, ALMERE) == [ref("c1")]
    assert (await propose(units, to="0995")).status is TransferStatus.PROPOSED  # a new proposal may follow


async def test_only_the_receiving_municipality_answers_and_region_staff_for_one_outside_the_region() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await register(units, "i-2", "c2")
    inside = await propose(units, "c1")
    outside = await propose(units, "c2", to="0150")
    for who in (ALMERE, region_staff()):
        with pytest.raises(Forbidden):
            await transfers.accept(units, REGION, who, inside.transfer_id, None, TODAY)
    with pytest.raises(NotFound):
        await transfers.accept(units, REGION, DRONTEN, "nope", None, TODAY)
    accepted = await transfers.accept(units, REGION, region_staff(), outside.transfer_id, None, TODAY)
    assert accepted.status is TransferStatus.ACCEPTED and not accepted.to_in_region


async def test_a_transfer_out_of_the_region_takes_the_waiting_entry_off_the_regional_list() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units, to="0150")
    await transfers.accept(units, REGION, DEVENTER, proposal.transfer_id, None, TODAY)
    assert await listed(units, region_staff()) == []
    assert units.store.registrations["i-1"].status.value == "transferred"


async def test_proposals_are_refused_with_a_reason() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    first, last = REGION.dates.transfer_window(TODAY)
    for effective_on in (first - timedelta(days=1), last + timedelta(days=1)):
        with pytest.raises(InvalidField) as outside_window:
            await propose(units, effective_on=effective_on)
        assert outside_window.value.field == "effective_on"
    with pytest.raises(Forbidden):
        await propose(units, who=DRONTEN)
    with pytest.raises(NotFound):
        await propose(units, client="c9")
    with pytest.raises(InvalidField) as to_self:
        await propose(units, to="0034")
    with pytest.raises(InvalidField) as unknown:
        await propose(units, to="9999")
    assert (to_self.value.field, unknown.value.field) == ("to_municipality", "to_municipality")
    await propose(units)
    with pytest.raises(Conflict) as pending:
        await propose(units, to="0995")
    assert pending.value.kind == "transfer-pending"


async def test_a_municipality_lists_the_proposals_it_made_and_received() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await register(units, "i-2", "c2", responsible_municipality="0303")
    out = await propose(units, "c1")
    incoming = await propose(units, "c2", to="0034", who=DRONTEN)
    almere = await transfers.list_transfers(units, REGION, ALMERE, None, TODAY)
    assert {t.transfer_id for t in almere} == {out.transfer_id, incoming.transfer_id}
    await transfers.accept(units, REGION, ALMERE, incoming.transfer_id, None, TODAY)
    accepted = await transfers.list_transfers(units, REGION, DRONTEN, TransferStatus.ACCEPTED, TODAY)
    assert [t.transfer_id for t in accepted] == [incoming.transfer_id]
    assert await transfers.list_transfers(units, REGION, municipality("0184"), None, TODAY) == []
    with pytest.raises(Forbidden):
        await transfers.list_transfers(units, REGION, provider("11111111"), None, TODAY)


async def test_a_transfer_may_not_take_effect_before_one_already_accepted_for_the_episode() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    first = await propose(units, effective_on=date(2027, 3, 25))
    await transfers.accept(units, REGION, DRONTEN, first.transfer_id, None, TODAY)
    with pytest.raises(InvalidField) as earlier:
        await propose(units, to="0995", effective_on=date(2027, 3, 20), who=DRONTEN)
    assert earlier.value.field == "effective_on" and "2027-03-25" in str(earlier.value)
    assert units.store.events("ResponsibilityTransferProposed")[-1]["transfer_id"] == first.transfer_id
    second = await propose(units, to="0995", effective_on=date(2027, 3, 25), who=DRONTEN)
    assert second.status is TransferStatus.PROPOSED


async def test_a_proposal_accepted_after_its_date_left_the_window_has_expired() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    first, _ = REGION.dates.transfer_window(TODAY)
    proposal = await propose(units, effective_on=first)
    later = TODAY + timedelta(days=1)  # the effective date now lies one day too far back
    with pytest.raises(Conflict) as expired:
        await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, later)
    assert expired.value.kind == "transfer-expired"
    assert units.store.events("ResponsibilityTransferred") == []
    assert units.store.registrations["i-1"].responsible_municipality == "0034"


async def test_a_transfer_cannot_be_accepted_before_it_was_proposed() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units)
    with pytest.raises(InvalidField) as before:
        await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, TODAY - timedelta(days=1), TODAY)
    assert before.value.field == "accepted_on" and units.store.events("ResponsibilityTransferred") == []


async def test_region_staff_answer_for_a_receiver_outside_the_region_only_with_the_transfer_role() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    outside = await propose(units, to="0150")
    readers = Principal("region-flevoland", OrganisationKind.REGION, "flevoland", frozenset({Role.WAITING_LIST_READ}))
    with pytest.raises(Forbidden):
        await transfers.accept(units, REGION, readers, outside.transfer_id, None, TODAY)
    accepted = await transfers.accept(units, REGION, region_staff(), outside.transfer_id, None, TODAY)
    assert accepted.status is TransferStatus.ACCEPTED


async def test_applying_a_transfer_takes_every_matching_turn_in_the_matchers_order_before_the_rows() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    proposal = await propose(units, effective_on=date(2027, 4, 10))
    await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, TODAY)
    units.store.locks.clear()
    await listed(units, DRONTEN, date(2027, 4, 10))  # the first unit of work on the date applies it
    turns = [lock.removeprefix("turn ") for lock in units.store.locks]
    assert turns == turn_order(REGION.placement, REGION.care_forms)
