"""Housing's service layer on the in-memory unit of work: what a corporation's request leads to (the events
emitted, the audit line, the answer) and how offers are made, answered and lapse. No HTTP, no database."""

from datetime import date, timedelta
from typing import Any

import pytest

from tests.support.fake_housing import (
    ALMERE,
    CORPORATION_ID,
    FakeUnits,
    assessed,
    consent_recorded,
    corporation,
    placement_ended,
    placement_made,
    ref,
    unit_create,
)
from tests.support.infra import ROOT
from zorgstroom_contracts.codes import EndReason, OfferDeclineReason, OutflowRefusalReason
from zorgstroom_contracts.events import OutflowRefused
from zorgstroom_contracts.region import HousingPolicy
from zorgstroom_housing.domain.model import HousingUnit, OfferStatus, UnitStatus
from zorgstroom_housing.service_layer import clients, corporations, offers
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound
from zorgstroom_runtime.region import load_region

FLEVOLAND = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
CAPPED_WIJK = "WK003405"
REGION = FLEVOLAND.model_copy(
    update={"housing": HousingPolicy(wijk_outflow_caps={CAPPED_WIJK: 1}, wijk_outflow_window_months=12)}
)
POLICY = REGION.housing
TODAY = date(2027, 12, 31)  # the flows below run in 2027; no offer is dated after today


async def ready(units: FakeUnits, name: str, on: date) -> None:
    """As the events tell it: the client was placed, then assessed ready on `on`."""
    async with units() as uow:
        await clients.consent_recorded(uow, POLICY, consent_recorded(name, True, date(2026, 12, 1)), TODAY)
        await clients.placement_made(uow, POLICY, placement_made(name, f"p-{name}", date(2026, 12, 1)), TODAY)
        await clients.readiness_assessed(uow, POLICY, assessed(name, f"p-{name}", on), TODAY)


async def quota(units: FakeUnits, homes: int, year: int = 2027, today: date = TODAY) -> None:
    await corporations.set_contingent(units, REGION, corporation(), (CORPORATION_ID, ALMERE, year), homes, today)


async def offer(
    units: FakeUnits, unit_id: str, available_from: date, today: date = TODAY, **extra: Any
) -> tuple[str, bool]:
    return await corporations.offer_unit(
        units, REGION, corporation(), unit_create(unit_id, available_from, **extra), today, "corr-1"
    )


def made(units: FakeUnits) -> list[tuple[str, str, str]]:
    """(unit, client, offered_on) of every offer made, in order."""
    return [(e["unit_id"], e["client_ref"], e["offered_on"]) for e in units.store.events("HousingOfferMade")]


# --- a corporation offers units ----------------------------------------------------------------------


async def test_an_offered_unit_is_emitted_once_audited_and_answered_the_same_again() -> None:
    units = FakeUnits(REGION)
    event_id, new = await offer(units, "u1", date(2027, 4, 1))
    again, again_new = await offer(units, "u1", date(2027, 4, 1))
    assert (new, again_new, again) == (True, False, event_id)
    [envelope] = units.store.emitted
    assert envelope.event_type == "HousingUnitOffered" and str(envelope.event_id) == event_id
    assert envelope.correlation_id == "corr-1" and envelope.data["wijk"] == "WK003402"
    assert [a["action"] for a in units.store.audit] == ["housing.offer_unit"]


async def test_a_unit_offered_again_with_other_content_is_a_conflict() -> None:
    units = FakeUnits(REGION)
    await offer(units, "u1", date(2027, 4, 1))
    with pytest.raises(Conflict) as refused:
        await offer(units, "u1", date(2027, 4, 1), rooms=3)
    assert refused.value.kind == "unit-exists" and len(units.store.emitted) == 1


async def test_a_corporation_offers_only_its_own_units_in_the_region_and_not_in_the_past() -> None:
    units = FakeUnits(REGION)
    with pytest.raises(Forbidden):
        await offer(units, "u1", date(2027, 4, 1), corporation_id="another")
    with pytest.raises(InvalidField) as outside:
        await offer(units, "u2", date(2027, 4, 1), municipality="0150", wijk="WK015001")
    with pytest.raises(InvalidField) as past:
        await offer(units, "u3", TODAY - timedelta(days=REGION.dates.max_days_back + 1))
    assert (outside.value.field, past.value.field) == ("municipality", "available_from")
    assert units.store.emitted == [] and units.store.units == {}


async def test_an_offered_unit_goes_at_once_to_the_longest_ready_client_who_fits() -> None:
    units = FakeUnits(REGION)
    await ready(units, "later", date(2027, 2, 5))
    await ready(units, "first", date(2027, 2, 1))
    await quota(units, 5)
    await offer(units, "u1", date(2027, 4, 1))
    assert made(units) == [("u1", ref("first"), "2027-04-01")]
    [row] = units.store.offers.values()
    assert (row.placement_id, row.responsible_municipality, row.answer_by) == ("p-first", ALMERE, date(2027, 4, 15))
    assert units.store.units["u1"].status is UnitStatus.OFFERED
    assert units.store.contingents[(CORPORATION_ID, ALMERE, 2027)].reserved == 1


async def test_making_offers_offers_what_it_can_and_says_why_each_other_unit_waits() -> None:
    units = FakeUnits(REGION)
    await ready(units, "a", date(2027, 2, 1))
    await quota(units, 5)
    listed = {
        "fits": HousingUnit("fits", CORPORATION_ID, ALMERE, "WK003402", 2, 640.0, date(2027, 4, 1)),
        "closed-wijk": HousingUnit("closed-wijk", CORPORATION_ID, ALMERE, "WK003409", 2, 640.0, date(2027, 3, 1)),
        "no-quota": HousingUnit("no-quota", CORPORATION_ID, "0995", "WK099501", 2, 640.0, date(2027, 3, 1)),
    }
    units.store.units.update(listed)
    policy = HousingPolicy(wijk_outflow_caps={"WK003409": 0})
    async with units() as uow:
        events = await offers.make_offers(uow, policy, on=date(2027, 3, 15), today=TODAY)
    assert [(e.unit_id, e.client_ref, e.offered_on) for e in events] == [("fits", ref("a"), date(2027, 4, 1))]
    assert {u: units.store.units[u].waiting_reason for u in listed} == {
        "fits": None,
        "closed-wijk": "wijk_at_cap",
        "no-quota": "quota_used_up",
    }


async def test_a_unit_announced_ahead_waits_for_its_day_and_the_days_pass_offers_it_then() -> None:
    units = FakeUnits(REGION)
    await ready(units, "a", date(2027, 2, 1))
    march = date(2027, 3, 1)
    await quota(units, 5, today=march)
    await offer(units, "u1", date(2027, 4, 1), march)  # announced on 1 March, free from 1 April
    assert made(units) == [] and units.store.units["u1"].waiting_reason == "not_yet_available"
    assert await offers.offer_what_came_free(units, POLICY, date(2027, 3, 31)) == 0
    assert await offers.offer_what_came_free(units, POLICY, date(2027, 4, 2)) == 1
    assert made(units) == [("u1", ref("a"), "2027-04-02")]  # the day the pass ran, not before it


async def test_no_pass_dates_an_offer_after_today() -> None:
    # a pass started by an event dated ahead (a placement ending within the region's margin) matches on today
    units = FakeUnits(REGION)
    today = date(2027, 3, 1)
    await ready(units, "a", date(2027, 2, 1))
    await quota(units, 5, today=today)
    units.store.units["u1"] = HousingUnit("u1", CORPORATION_ID, ALMERE, "WK003402", 2, 640.0, date(2027, 2, 1))
    async with units() as uow:
        events = await offers.make_offers(uow, POLICY, on=date(2027, 3, 20), today=today)
    assert [(e.unit_id, e.offered_on, e.answer_by) for e in events] == [("u1", today, date(2027, 3, 15))]


# --- quotas --------------------------------------------------------------------------------------------


async def test_a_quota_is_agreed_emitted_and_audited() -> None:
    units = FakeUnits(REGION)
    agreed = await corporations.set_contingent(units, REGION, corporation(), (CORPORATION_ID, ALMERE, 2027), 25, TODAY)
    assert (agreed.units, agreed.used, agreed.reserved, agreed.left) == (25, 0, 0, 25)
    assert units.store.events("HousingContingentAgreed") == [
        {"corporation_id": CORPORATION_ID, "municipality": ALMERE, "year": 2027, "homes": 25, "version": 1}
    ]
    assert [a["subject"] for a in units.store.audit] == [f"{CORPORATION_ID}/{ALMERE}/2027=25"]


async def test_each_change_of_a_quota_is_one_version_up() -> None:
    units = FakeUnits(REGION)
    for homes in (25, 25, 30, 20):  # the same number again changes nothing, so it makes no version
        await corporations.set_contingent(units, REGION, corporation(), (CORPORATION_ID, ALMERE, 2027), homes, TODAY)
    assert [(e["homes"], e["version"]) for e in units.store.events("HousingContingentAgreed")] == [
        (25, 1), (30, 2), (20, 3),
    ]  # fmt: skip


async def test_the_same_quota_agreed_again_changes_nothing_and_emits_nothing() -> None:
    units = FakeUnits(REGION)
    first = await corporations.set_contingent(units, REGION, corporation(), (CORPORATION_ID, ALMERE, 2027), 25, TODAY)
    again = await corporations.set_contingent(units, REGION, corporation(), (CORPORATION_ID, ALMERE, 2027), 25, TODAY)
    assert again == first and len(units.store.events("HousingContingentAgreed")) == 1 and len(units.store.audit) == 1


async def test_a_quota_cannot_drop_below_the_homes_promised_and_nothing_is_kept() -> None:
    units = FakeUnits(REGION)
    await ready(units, "a", date(2027, 2, 1))
    await quota(units, 1)
    await offer(units, "u1", date(2027, 4, 1))
    emitted = len(units.store.emitted)
    with pytest.raises(Conflict) as refused:
        await quota(units, 0)
    assert refused.value.kind == "contingent-below-use"
    assert units.store.contingents[(CORPORATION_ID, ALMERE, 2027)].units == 1 and len(units.store.emitted) == emitted


async def test_a_unit_waits_for_quota_says_why_and_is_offered_when_the_quota_is_raised() -> None:
    units = FakeUnits(REGION)
    await ready(units, "a", date(2027, 2, 1))
    await offer(units, "u1", date(2027, 4, 1))
    assert units.store.units["u1"].waiting_reason == "quota_used_up" and made(units) == []
    await quota(units, 1)
    assert made(units) == [("u1", ref("a"), "2027-04-01")]
    assert units.store.units["u1"].waiting_reason is None


async def test_a_quota_for_next_year_offers_nothing_this_year() -> None:
    # before: the pass ran on 1 January 2028 and made an offer dated then, under next year's quota
    units = FakeUnits(REGION)
    today = date(2027, 6, 1)
    await ready(units, "a", date(2027, 2, 1))
    await offer(units, "u1", date(2027, 4, 1), today)
    await quota(units, 5, year=2028, today=today)
    assert made(units) == [] and units.store.units["u1"].waiting_reason == "quota_used_up"
    assert await offers.offer_what_came_free(units, POLICY, date(2028, 1, 1)) == 1
    assert made(units) == [("u1", ref("a"), "2028-01-01")]
    assert units.store.contingents[(CORPORATION_ID, ALMERE, 2028)].reserved == 1


async def test_another_corporation_sees_and_sets_nothing_of_ours() -> None:
    units = FakeUnits(REGION)
    with pytest.raises(Forbidden):
        await corporations.set_contingent(units, REGION, corporation("other"), (CORPORATION_ID, ALMERE, 2027), 5, TODAY)
    for view in (offers.corporation_offers, corporations.corporation_contingents, corporations.corporation_units):
        with pytest.raises(Forbidden):
            await view(units, corporation("other"), CORPORATION_ID)


async def test_a_corporation_sees_its_own_offers_quotas_and_units() -> None:
    units = FakeUnits(REGION)
    await ready(units, "a", date(2027, 2, 1))
    await quota(units, 2)
    await offer(units, "u1", date(2027, 4, 1))
    await offer(units, "u2", date(2027, 4, 2))
    seen = await offers.corporation_offers(units, corporation(), CORPORATION_ID)
    quotas = await corporations.corporation_contingents(units, corporation(), CORPORATION_ID)
    own = await corporations.corporation_units(units, corporation(), CORPORATION_ID)
    assert [(o.unit_id, o.status) for o in seen] == [("u1", OfferStatus.OPEN)]
    assert [(q.year, q.units, q.reserved, q.left) for q in quotas] == [(2027, 2, 1, 1)]
    assert [(u.unit_id, u.status, u.waiting_reason) for u in own] == [
        ("u1", UnitStatus.OFFERED, None),
        ("u2", UnitStatus.AVAILABLE, "no_fitting_client"),
    ]


# --- answers -------------------------------------------------------------------------------------------


async def _offered(units: FakeUnits, *names: str) -> str:
    for i, name in enumerate(names):
        await ready(units, name, date(2027, 2, 1 + i))
    await quota(units, 5)
    await offer(units, "u1", date(2027, 4, 1))
    return next(iter(units.store.offers))


async def test_an_accepted_offer_uses_the_quota_lets_the_unit_and_houses_the_client() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    answered = await offers.accept(units, REGION, corporation(), offer_id, date(2027, 4, 10), TODAY)
    assert (answered.status, answered.answered_on) == (OfferStatus.ACCEPTED, date(2027, 4, 10))
    assert units.store.events("HousingOfferAccepted")[0] == {
        "offer_id": offer_id,
        "unit_id": "u1",
        "client_ref": ref("a"),
        "answered_on": "2027-04-10",
        "corporation_id": CORPORATION_ID,
        "municipality": ALMERE,
        "wijk": "WK003402",
        "placement_id": "p-a",
    }
    contingent = units.store.contingents[(CORPORATION_ID, ALMERE, 2027)]
    assert (contingent.used, contingent.reserved) == (1, 0)
    assert units.store.units["u1"].status is UnitStatus.LET
    assert units.store.clients[ref("a")].housed_on == date(2027, 4, 10)
    assert units.store.audit[-1]["action"] == "housing.offer_accepted"


def refused(offer_id: str, on: date, reason: OutflowRefusalReason = OutflowRefusalReason.PLACEMENT_ENDED) -> Any:
    return OutflowRefused(
        offer_id=offer_id, unit_id="u1", client_ref=ref("a"), reason=reason, refused_on=on, placement_id="p-a"
    )


async def test_an_outflow_placement_refused_voids_the_acceptance_and_the_home_passes_on() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a", "b")
    await offers.accept(units, REGION, corporation(), offer_id, date(2027, 4, 10), TODAY)
    async with units() as uow:  # the ending that raced the acceptance, and placement's answer to it
        ending = placement_ended("a", "p-a", date(2027, 4, 9), EndReason.ENDED_BY_CLIENT)
        await clients.placement_ended(uow, POLICY, ending, TODAY)
    for _ in range(2):  # delivered twice: the second changes nothing
        async with units() as uow:
            await offers.void(uow, POLICY, refused(offer_id, date(2027, 4, 11)), TODAY)
    voided = units.store.offers[offer_id]
    assert (voided.status, voided.answered_on, voided.decline_reason) == (
        OfferStatus.VOIDED,
        date(2027, 4, 11),
        "placement_ended",
    )
    assert units.store.clients[ref("a")].housed_on is None
    # The home passed on, offered on the day housing learnt it is free (not on the refused acceptance's day,
    # which may lie so far back that the answer would be due already).
    assert made(units) == [("u1", ref("a"), "2027-04-01"), ("u1", ref("b"), TODAY.isoformat())]
    contingent = units.store.contingents[(CORPORATION_ID, ALMERE, 2027)]
    assert (contingent.used, contingent.reserved) == (0, 1)


@pytest.mark.parametrize("reason", [EndReason.ENDED_BY_CLIENT, EndReason.ENDED_AS_PLANNED])
async def test_a_refusal_that_overtakes_the_ending_counts_as_the_ending(reason: EndReason) -> None:
    """The refusal and the ending come on different topics: whichever comes first, the home is not offered to the
    client again (only they were ready for it), and a late ending, placement or assessment changes nothing."""
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    await offers.accept(units, REGION, corporation(), offer_id, date(2027, 4, 10), TODAY)
    async with units() as uow:
        await offers.void(uow, POLICY, refused(offer_id, date(2027, 4, 10)), TODAY)
    async with units() as uow:
        await clients.placement_ended(uow, POLICY, placement_ended("a", "p-a", date(2027, 4, 9), reason), TODAY)
        await clients.placement_made(uow, POLICY, placement_made("a", "p-a", date(2026, 12, 1)), TODAY)
        await clients.readiness_assessed(uow, POLICY, assessed("a", "p-a", date(2027, 4, 8)), TODAY)
    assert made(units) == [("u1", ref("a"), "2027-04-01")]
    assert units.store.events("HousingOfferDeclined") == []
    assert units.store.units["u1"].status is UnitStatus.AVAILABLE
    contingent = units.store.contingents[(CORPORATION_ID, ALMERE, 2027)]
    assert (contingent.used, contingent.reserved) == (0, 0)
    client = units.store.clients[ref("a")]
    assert (client.placement_id, client.ready_since, client.housed_on) == (None, None, None)


async def test_a_refusal_of_an_offer_not_accepted_changes_nothing() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    async with units() as uow:
        await offers.void(uow, POLICY, refused(offer_id, date(2027, 4, 11)), TODAY)
        await offers.void(uow, POLICY, refused("no-such-offer", date(2027, 4, 11)), TODAY)
    assert units.store.offers[offer_id].status is OfferStatus.OPEN


async def test_an_offer_whose_placement_housing_saw_end_cannot_be_accepted() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    async with units() as uow:  # ended as planned (19): the offer stands, but its placement is gone
        ending = placement_ended("a", "p-a", date(2027, 4, 5), EndReason.ENDED_AS_PLANNED)
        await clients.placement_ended(uow, POLICY, ending, TODAY)
    with pytest.raises(Conflict) as refused_here:
        await offers.accept(units, REGION, corporation(), offer_id, date(2027, 4, 10), TODAY)
    assert refused_here.value.kind == "placement-ended" and units.store.events("HousingOfferAccepted") == []
    assert units.store.offers[offer_id].status is OfferStatus.OPEN


async def test_an_answer_before_the_offer_counts_from_the_offer() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    assert (await offers.accept(units, REGION, corporation(), offer_id, date(2027, 3, 1), TODAY)).answered_on == date(
        2027, 4, 1
    )


async def test_an_answer_dated_after_the_latest_day_allowed_is_refused_and_changes_nothing() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    today = date(2027, 4, 5)
    ahead = REGION.dates.latest_allowed(today) + timedelta(days=1)
    emitted = len(units.store.emitted)
    with pytest.raises(InvalidField) as accepted:
        await offers.accept(units, REGION, corporation(), offer_id, ahead, today)
    with pytest.raises(InvalidField) as declined:
        await offers.decline(units, REGION, corporation(), offer_id, OfferDeclineReason.TOO_FAR, ahead, today)
    assert (accepted.value.field, declined.value.field) == ("answered_on", "answered_on")
    assert units.store.offers[offer_id].status is OfferStatus.OPEN and len(units.store.emitted) == emitted
    answered = await offers.accept(units, REGION, corporation(), offer_id, REGION.dates.latest_allowed(today), today)
    assert answered.answered_on == REGION.dates.latest_allowed(today)


async def test_an_offer_lapsing_before_its_answer_by_day_lapses_today() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    units.store.now += timedelta(seconds=10)  # a demo lapses offers within seconds
    assert await offers.lapse_due_offers(units, POLICY, timedelta(seconds=5), date(2027, 4, 3)) == 1
    assert units.store.offers[offer_id].answered_on == date(2027, 4, 3)


async def test_an_offer_is_answered_once_by_its_own_corporation() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a")
    with pytest.raises(Forbidden):
        await offers.accept(units, REGION, corporation("other"), offer_id, date(2027, 4, 10), TODAY)
    with pytest.raises(NotFound):
        await offers.accept(units, REGION, corporation(), "no-such-offer", date(2027, 4, 10), TODAY)
    await offers.accept(units, REGION, corporation(), offer_id, date(2027, 4, 10), TODAY)
    with pytest.raises(Conflict) as twice:
        await offers.decline(
            units, REGION, corporation(), offer_id, OfferDeclineReason.TOO_FAR, date(2027, 4, 11), TODAY
        )
    assert twice.value.kind == "offer-answered"


async def test_a_declined_unit_goes_to_the_next_client_and_not_back_to_the_decliner() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a", "b")
    declined = await offers.decline(
        units, REGION, corporation(), offer_id, OfferDeclineReason.TOO_FAR, date(2027, 4, 3), TODAY
    )
    assert (declined.status, declined.decline_reason) == (OfferStatus.DECLINED, "too_far")
    assert [(e["client_ref"], e["reason"]) for e in units.store.events("HousingOfferDeclined")] == [
        (ref("a"), "too_far")
    ]
    assert made(units) == [("u1", ref("a"), "2027-04-01"), ("u1", ref("b"), "2027-04-03")]
    assert units.store.contingents[(CORPORATION_ID, ALMERE, 2027)].reserved == 1


async def test_an_unanswered_offer_lapses_on_its_answer_by_day_and_passes_on() -> None:
    units = FakeUnits(REGION)
    offer_id = await _offered(units, "a", "b")
    after = timedelta(days=POLICY.offer_answer_days)
    assert await offers.lapse_due_offers(units, POLICY, after, TODAY) == 0
    units.store.now += after
    assert await offers.lapse_due_offers(units, POLICY, after, TODAY) == 1
    lapsed = units.store.offers[offer_id]
    assert (lapsed.status, lapsed.answered_on, lapsed.decline_reason) == (
        OfferStatus.LAPSED,
        date(2027, 4, 15),
        "lapsed",
    )
    assert made(units)[-1] == ("u1", ref("b"), "2027-04-15")


# --- the wijk cap over a rolling window -------------------------------------------------------------


async def test_a_wijk_at_its_cap_opens_again_a_window_after_its_home_was_let() -> None:
    # cap 1 in CAPPED_WIJK: a home let on 10 April 2027 holds the slot until 10 April 2028
    units = FakeUnits(REGION)
    await ready(units, "a", date(2027, 2, 1))
    await ready(units, "b", date(2027, 2, 2))
    await quota(units, 5)
    await quota(units, 5, year=2028)
    await offer(units, "first", date(2027, 4, 1), wijk=CAPPED_WIJK)
    [first] = units.store.offers
    await offers.accept(units, REGION, corporation(), first, date(2027, 4, 10), TODAY)
    later = date(2028, 12, 31)
    await offer(units, "too-soon", date(2028, 4, 9), later, wijk=CAPPED_WIJK)
    assert units.store.units["too-soon"].waiting_reason == "wijk_at_cap"
    await offer(units, "in-time", date(2028, 4, 10), later, wijk=CAPPED_WIJK)
    # The unit that waited longest goes first, on the day the slot frees; the other waits for the next slot.
    assert made(units) == [("first", ref("a"), "2027-04-01"), ("too-soon", ref("b"), "2028-04-10")]
    assert units.store.units["in-time"].waiting_reason == "wijk_at_cap"
