"""Housing's service layer on the in-memory unit of work, fed by events: registrations, placements and their
ends (doorstroom included, in either order), readiness, and transfers per episode from their effective date."""

from datetime import date
from typing import Any

from tests.support.fake_housing import (
    ALMERE,
    CORPORATION_ID,
    LELYSTAD,
    FakeUnits,
    assessed,
    client_registered,
    consent_recorded,
    corporation,
    placement_ended,
    placement_made,
    ref,
    transferred,
    unit_create,
)
from tests.support.infra import ROOT
from zorgstroom_contracts.codes import EndReason
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    Event,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_housing.domain.model import OfferStatus
from zorgstroom_housing.ports import HousingUnitOfWork
from zorgstroom_housing.service_layer import clients, corporations, offers
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
POLICY = REGION.housing
TODAY = date(2027, 12, 31)  # the flows below run in 2027; no offer is dated after today


async def deliver(units: FakeUnits, *events: Event, today: date = TODAY) -> None:
    """Each event in its own unit of work, as the consumer applies them."""
    for event in events:
        async with units() as uow:
            await _handle(uow, event, today)


async def _handle(uow: HousingUnitOfWork, event: Event, today: date) -> None:
    match event:
        case ClientRegistered():
            await clients.client_registered(uow, POLICY, event, today)
        case ConsentRecorded():
            await clients.consent_recorded(uow, POLICY, event, today)
        case PlacementMade():
            await clients.placement_made(uow, POLICY, event, today)
        case PlacementEnded():
            await clients.placement_ended(uow, POLICY, event, today)
        case OutflowReadinessAssessed():
            await clients.readiness_assessed(uow, POLICY, event, today)
        case ResponsibilityTransferred():
            await clients.responsibility_transferred(uow, POLICY, event, event.transfer_id or "", today)


async def market(
    units: FakeUnits,
    *unit_ids: str,
    available_from: date = date(2027, 4, 1),
    today: date = TODAY,
    **extra: Any,
) -> None:
    for year in (2027, 2028):
        for municipality in (ALMERE, LELYSTAD):
            key = (CORPORATION_ID, municipality, year)
            if key not in units.store.contingents:
                await corporations.set_contingent(units, REGION, corporation(), key, 5, today)
    for unit_id in unit_ids:
        await corporations.offer_unit(
            units, REGION, corporation(), unit_create(unit_id, available_from, **extra), today
        )


def offers_to(units: FakeUnits) -> list[tuple[str, str, str]]:
    """(unit, client, status) of every offer, in the order made."""
    return [(o.unit_id, o.client_ref, o.status.value) for o in units.store.offers.values()]


def declined(units: FakeUnits) -> list[tuple[str, str, str]]:
    return [(e["unit_id"], e["reason"], e["answered_on"]) for e in units.store.events("HousingOfferDeclined")]


def consents(*names: str, on: date = date(2027, 1, 1)) -> list[ConsentRecorded]:
    """The clients consent to share with corporations (rule 14), recorded before anything else below."""
    return [consent_recorded(name, True, on) for name in names]


# --- registrations, placements, readiness ------------------------------------------------------------


async def test_a_registered_household_waits_for_a_home_with_rooms_enough() -> None:
    units = FakeUnits(REGION)
    family = client_registered("family", "i1", date(2027, 1, 5), adults=2, children=2)  # four need three rooms
    await deliver(units, family, placement_made("family", "p1", date(2027, 1, 6), intake_id="i1"))
    await deliver(units, assessed("family", "p1", date(2027, 2, 1)))
    await market(units, "two-rooms")
    await market(units, "three-rooms", rooms=3)
    assert offers_to(units) == [("three-rooms", ref("family"), "open")]
    offer = units.store.offers[next(iter(units.store.offers))]
    assert (offer.household_size, offer.rooms_needed) == (4, 3)


async def test_a_client_assessed_not_ready_or_in_a_placement_that_ended_gets_no_offer() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *consents("a", "b"))  # consenting: what keeps them out is readiness
    await market(units, "u1")
    await deliver(
        units, placement_made("a", "pa", date(2027, 1, 6)), assessed("a", "pa", date(2027, 2, 1), ready=False)
    )
    ended = placement_ended("b", "pb", date(2027, 2, 1), EndReason.ENDED_BY_CLIENT)
    await deliver(units, placement_made("b", "pb", date(2027, 1, 6)), ended, assessed("b", "pb", date(2027, 2, 2)))
    assert offers_to(units) == [] and units.store.units["u1"].waiting_reason == "no_fitting_client"


async def test_a_placement_whose_end_came_first_is_not_taken_up() -> None:
    units = FakeUnits(REGION)
    await deliver(units, placement_ended("a", "p1", date(2027, 2, 1), EndReason.DEATH))
    await deliver(units, placement_made("a", "p1", date(2027, 1, 6)), assessed("a", "p1", date(2027, 1, 20)))
    assert ref("a") not in units.store.clients


async def test_leaving_the_place_withdraws_the_open_offer_and_the_unit_passes_on() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *consents("a", "b"))
    await deliver(units, placement_made("a", "pa", date(2027, 1, 6)), assessed("a", "pa", date(2027, 2, 1)))
    await deliver(units, placement_made("b", "pb", date(2027, 1, 6)), assessed("b", "pb", date(2027, 2, 5)))
    await market(units, "u1")
    await deliver(units, placement_ended("a", "pa", date(2027, 4, 3), EndReason.ENDED_BY_PROVIDER))
    assert declined(units) == [("u1", "not_ready", "2027-04-03")]
    assert offers_to(units) == [("u1", ref("a"), "declined"), ("u1", ref("b"), "open")]
    assert units.store.clients[ref("a")].placement_id is None


async def test_an_ending_as_planned_leaves_an_open_offer_standing() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *consents("a"))
    await deliver(units, placement_made("a", "pa", date(2027, 1, 6)), assessed("a", "pa", date(2027, 2, 1)))
    await market(units, "u1")
    await deliver(units, placement_ended("a", "pa", date(2027, 4, 3), EndReason.ENDED_AS_PLANNED))
    assert declined(units) == [] and offers_to(units) == [("u1", ref("a"), "open")]


# --- doorstroom: the old placement ends (37) and a new one starts, in either order --------------------


async def _offered_in_shelter(units: FakeUnits) -> None:
    await deliver(units, *consents("a"))
    await deliver(units, placement_made("a", "shelter", date(2027, 1, 6), intake_id="i1", care_form="MO_24H"))
    await deliver(units, assessed("a", "shelter", date(2027, 2, 1)))
    await market(units, "u1")
    assert offers_to(units) == [("u1", ref("a"), "open")]


DOORSTROOM_END = placement_ended("a", "shelter", date(2027, 4, 5), EndReason.CHANGE_REQUEST, doorstroom_to="BW_24H")
BW_START = placement_made("a", "bw", date(2027, 4, 5), intake_id="i2")


async def test_doorstroom_withdraws_the_open_offer_when_the_end_comes_first() -> None:
    units = FakeUnits(REGION)
    await _offered_in_shelter(units)
    await deliver(units, DOORSTROOM_END, BW_START)
    assert declined(units) == [("u1", "not_ready", "2027-04-05")]
    client = units.store.clients[ref("a")]
    assert (client.placement_id, client.intake_id, client.ready_since) == ("bw", "i2", None)


async def test_doorstroom_withdraws_the_open_offer_when_the_new_placement_comes_first() -> None:
    units = FakeUnits(REGION)
    await _offered_in_shelter(units)
    await deliver(units, BW_START)
    assert declined(units) == [("u1", "not_ready", "2027-04-05")]  # not left open for the old end to arrive
    await deliver(units, DOORSTROOM_END)
    assert declined(units) == [("u1", "not_ready", "2027-04-05")]
    client = units.store.clients[ref("a")]
    assert (client.placement_id, client.intake_id, client.ready_since) == ("bw", "i2", None)


async def test_after_doorstroom_the_client_is_offered_a_home_once_ready_in_the_new_placement() -> None:
    units = FakeUnits(REGION)
    await _offered_in_shelter(units)
    await deliver(units, BW_START, assessed("a", "bw", date(2027, 5, 1)))
    await market(units, "u2", available_from=date(2027, 5, 2))
    await deliver(units, DOORSTROOM_END)  # the old placement's end, late on its topic, leaves the new offer alone
    assert offers_to(units) == [("u1", ref("a"), "declined"), ("u2", ref("a"), "open")]
    assert units.store.offers[list(units.store.offers)[-1]].placement_id == "bw"


# --- transfers: from their effective date, for their episode --------------------------------------------


async def _ready_in_almere(units: FakeUnits, intake_id: str = "i1") -> None:
    await deliver(units, *consents("a"))
    await deliver(units, placement_made("a", "p1", date(2027, 1, 6), intake_id=intake_id))
    await deliver(units, assessed("a", "p1", date(2027, 2, 1)))


async def test_a_transfer_counts_from_its_effective_date() -> None:
    units = FakeUnits(REGION)
    await _ready_in_almere(units)
    await deliver(units, transferred("a", LELYSTAD, date(2027, 5, 1), ["i1"]))
    await market(units, "lelystad-early", municipality=LELYSTAD, wijk="WK099501", available_from=date(2027, 4, 20))
    assert offers_to(units) == []  # on 20 April Almere is still responsible
    await market(units, "almere", available_from=date(2027, 5, 1))
    # From 1 May Lelystad is: the Lelystad unit that waited goes to the client, the Almere one does not.
    [offer] = units.store.offers.values()
    assert (offer.unit_id, offer.offered_on, offer.responsible_municipality) == (
        "lelystad-early",
        date(2027, 5, 1),
        LELYSTAD,
    )
    assert units.store.events("HousingOfferMade")[0]["responsible_municipality"] == LELYSTAD


async def test_a_transfer_taking_effect_later_offers_nothing_ahead_and_counts_once_its_day_has_come() -> None:
    # Accepted on 1 March to take effect on 1 May: a Lelystad unit free since 15 February is not offered on
    # 1 March (dated 1 May, on next year's terms); the day's pass of 1 May offers it, dated that day.
    units = FakeUnits(REGION)
    march, may = date(2027, 3, 1), date(2027, 5, 1)
    await deliver(units, *consents("a"), today=march)
    await deliver(units, placement_made("a", "p1", date(2027, 1, 6), intake_id="i1"), today=march)
    await deliver(units, assessed("a", "p1", date(2027, 2, 1)), today=march)
    lelystad = {"municipality": LELYSTAD, "wijk": "WK099501"}
    await market(units, "lelystad", available_from=date(2027, 2, 15), today=march, **lelystad)
    await deliver(units, transferred("a", LELYSTAD, may, ["i1"]), today=march)
    assert offers_to(units) == [] and units.store.events("HousingOfferMade") == []
    assert await offers.offer_what_came_free(units, POLICY, date(2027, 4, 30)) == 0
    assert await offers.offer_what_came_free(units, POLICY, may) == 1
    [offer] = units.store.offers.values()
    assert (offer.unit_id, offer.offered_on, offer.responsible_municipality, offer.answer_by) == (
        "lelystad",
        may,
        LELYSTAD,
        date(2027, 5, 15),
    )


async def test_a_client_placed_before_episodes_were_kept_follows_a_transfer_of_their_episode() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *consents("a"))
    await deliver(units, placement_made("a", "p1", date(2027, 1, 6), intake_id=None))  # an older event
    await deliver(units, assessed("a", "p1", date(2027, 2, 1)), transferred("a", LELYSTAD, date(2027, 3, 1), ["i1"]))
    await market(units, "almere")
    await market(units, "lelystad", municipality=LELYSTAD, wijk="WK099501")
    assert offers_to(units) == [("lelystad", ref("a"), "open")]


async def test_a_transfer_of_another_episode_changes_nothing() -> None:
    units = FakeUnits(REGION)
    await _ready_in_almere(units, intake_id="i2")
    await deliver(units, transferred("a", LELYSTAD, date(2027, 3, 1), ["i1"]))
    await market(units, "almere")
    assert offers_to(units) == [("almere", ref("a"), "open")]


async def test_a_transfer_that_overtakes_the_placement_applies_once_placed() -> None:
    units = FakeUnits(REGION)
    await deliver(units, transferred("a", LELYSTAD, date(2027, 3, 1), ["i1"]))
    await _ready_in_almere(units)
    await market(units, "almere")
    await market(units, "lelystad", municipality=LELYSTAD, wijk="WK099501")
    assert offers_to(units) == [("lelystad", ref("a"), "open")]


async def test_an_older_transfer_without_an_episode_holds_for_the_current_one_and_a_new_episode_starts_fresh() -> None:
    units = FakeUnits(REGION)
    await _ready_in_almere(units)
    await deliver(units, transferred("a", LELYSTAD, date(2027, 3, 1), None))
    assert units.store.transfers["t1"].intake_ids == frozenset({"i1"})
    await market(units, "almere")
    assert offers_to(units) == []
    await deliver(units, placement_ended("a", "p1", date(2027, 4, 2), EndReason.ENDED_BY_CLIENT))
    await deliver(
        units, placement_made("a", "p2", date(2027, 6, 1), intake_id="i2"), assessed("a", "p2", date(2027, 7, 1))
    )
    assert offers_to(units) == [("almere", ref("a"), "open")]
    assert units.store.offers[next(iter(units.store.offers))].status is OfferStatus.OPEN


async def test_an_older_transfer_that_overtakes_the_registration_holds_for_the_episode_it_came_in() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *consents("a"), transferred("a", LELYSTAD, date(2027, 3, 1), None))
    await deliver(units, client_registered("a", "i1", date(2027, 1, 5)))  # late, on its own topic
    await deliver(units, placement_made("a", "p1", date(2027, 1, 6), intake_id="i1"))
    await deliver(units, assessed("a", "p1", date(2027, 2, 1)), client_registered("a", "i1", date(2027, 1, 5)))
    await market(units, "almere")
    await market(units, "lelystad", municipality=LELYSTAD, wijk="WK099501")
    assert offers_to(units) == [("lelystad", ref("a"), "open")]


async def test_a_registration_after_the_transfers_date_starts_fresh_whatever_the_order() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *consents("a"), transferred("a", LELYSTAD, date(2027, 3, 1), None))
    await deliver(units, client_registered("a", "i2", date(2027, 3, 5)))
    await deliver(
        units, placement_made("a", "p2", date(2027, 3, 6), intake_id="i2"), assessed("a", "p2", date(2027, 4, 1))
    )
    await market(units, "almere")
    assert offers_to(units) == [("almere", ref("a"), "open")]


async def test_a_registration_entered_later_but_dated_back_sizes_the_offer() -> None:
    """Shelter (MO) registered on 20 May; sheltered housing (BW) entered after it, dated 15 May, for a household
    of three: the BW registration is the one that holds, and the home offered is sized for three."""
    units = FakeUnits(REGION)
    await deliver(
        units,
        client_registered("a", "i-mo", date(2027, 5, 20)),
        client_registered("a", "i-bw", date(2027, 5, 15), adults=2, children=1),
        placement_made("a", "p1", date(2027, 5, 21), intake_id="i-bw"),
        assessed("a", "p1", date(2027, 6, 1)),
    )
    await market(units, "almere")
    [offer] = units.store.offers.values()
    assert (offer.client_ref, offer.household_size) == (ref("a"), 3)
