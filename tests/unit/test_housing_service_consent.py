"""Housing's service layer on the in-memory unit of work, rule 14: no corporation offer without the client's
consent to share; consent recorded later makes them eligible from its day, a withdrawal withdraws an open offer;
the latest dated fact counts, whichever topic brings it first."""

from datetime import date

from tests.support.fake_housing import (
    CORPORATION_ID,
    FakeUnits,
    assessed,
    client_registered,
    consent_recorded,
    corporation,
    placement_made,
    ref,
    unit_create,
)
from tests.support.infra import ROOT
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    Event,
    OutflowReadinessAssessed,
    PlacementMade,
)
from zorgstroom_housing.ports import HousingUnitOfWork
from zorgstroom_housing.service_layer import clients, corporations
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
POLICY = REGION.housing
ALMERE = "0034"
TODAY = date(2027, 12, 31)


async def deliver(units: FakeUnits, *events: Event) -> None:
    for event in events:
        async with units() as uow:
            await _handle(uow, event)


async def _handle(uow: HousingUnitOfWork, event: Event) -> None:
    match event:
        case ClientRegistered():
            await clients.client_registered(uow, POLICY, event, TODAY)
        case ConsentRecorded():
            await clients.consent_recorded(uow, POLICY, event, TODAY)
        case PlacementMade():
            await clients.placement_made(uow, POLICY, event, TODAY)
        case OutflowReadinessAssessed():
            await clients.readiness_assessed(uow, POLICY, event, TODAY)


def ready(name: str, *, consent: bool, registered_on: date = date(2027, 1, 5)) -> list[Event]:
    """Registered (with or without consent), placed the next day, assessed ready on 1 February."""
    return [
        client_registered(name, f"i-{name}", registered_on, consent=consent),
        placement_made(name, f"p-{name}", date(2027, 1, 6), intake_id=f"i-{name}"),
        assessed(name, f"p-{name}", date(2027, 2, 1)),
    ]


async def market(units: FakeUnits, unit_id: str, available_from: date = date(2027, 4, 1)) -> None:
    key = (CORPORATION_ID, ALMERE, 2027)
    if key not in units.store.contingents:
        await corporations.set_contingent(units, REGION, corporation(), key, 5, TODAY)
    await corporations.offer_unit(units, REGION, corporation(), unit_create(unit_id, available_from), TODAY)


def offers_to(units: FakeUnits) -> list[tuple[str, str, str, str]]:
    return [(o.unit_id, o.client_ref, o.status.value, o.offered_on.isoformat()) for o in units.store.offers.values()]


async def test_a_ready_client_without_consent_is_not_offered_and_the_unit_waits_for_a_fitting_client() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *ready("a", consent=False))
    await market(units, "u1")
    assert offers_to(units) == [] and units.store.events("HousingOfferMade") == []
    assert units.store.units["u1"].waiting_reason == "no_fitting_client"


async def test_the_unit_passes_over_a_client_without_consent_to_the_next_who_consents() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *ready("a", consent=False), *ready("b", consent=True))
    await market(units, "u1")
    assert offers_to(units) == [("u1", ref("b"), "open", "2027-04-01")]


async def test_consent_recorded_later_brings_an_offer_dated_from_its_day() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *ready("a", consent=False))
    await market(units, "u1")
    await deliver(units, consent_recorded("a", True, date(2027, 5, 10)))
    # Ready since 1 February, the unit free since 1 April: the offer waits for the consent of 10 May.
    assert offers_to(units) == [("u1", ref("a"), "open", "2027-05-10")]
    [made] = units.store.events("HousingOfferMade")
    assert made["client_ref"] == ref("a") and made["offered_on"] == "2027-05-10"


async def test_withdrawing_consent_withdraws_the_open_offer_and_the_unit_goes_to_the_next_client() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *ready("a", consent=True), *ready("b", consent=True))  # equally ready: a first, by ref
    await market(units, "u1")
    assert offers_to(units) == [("u1", ref("a"), "open", "2027-04-01")]
    await deliver(units, consent_recorded("a", False, date(2027, 4, 6)))
    declined = [
        (e["unit_id"], e["client_ref"], e["reason"], e["answered_on"])
        for e in units.store.events("HousingOfferDeclined")
    ]
    assert declined == [("u1", ref("a"), "consent_withdrawn", "2027-04-06")]
    assert offers_to(units) == [("u1", ref("a"), "declined", "2027-04-01"), ("u1", ref("b"), "open", "2027-04-06")]
    assert units.store.contingents[(CORPORATION_ID, ALMERE, 2027)].reserved == 1  # b's offer only


async def test_a_withdrawal_that_overtook_an_older_registration_stands() -> None:
    # The withdrawal of 1 March arrives first; the registration of 5 January (consent yes) comes later on its topic.
    units = FakeUnits(REGION)
    await deliver(units, consent_recorded("a", False, date(2027, 3, 1)), *ready("a", consent=True))
    await market(units, "u1")
    assert offers_to(units) == [] and units.store.clients[ref("a")].consent_since is None


async def test_on_the_same_day_a_recorded_withdrawal_outranks_the_registration_in_either_order() -> None:
    for order in ("recorded first", "registration first"):
        units = FakeUnits(REGION)
        withdrawal = consent_recorded("a", False, date(2027, 1, 5))
        registration, *rest = ready("a", consent=True)
        first = [withdrawal, registration] if order == "recorded first" else [registration, withdrawal]
        await deliver(units, *first, *rest)
        await market(units, "u1")
        assert offers_to(units) == [], order


async def test_a_late_withdrawal_older_than_consent_given_again_changes_nothing() -> None:
    units = FakeUnits(REGION)
    await deliver(units, *ready("a", consent=False), consent_recorded("a", True, date(2027, 3, 1)))
    await market(units, "u1")
    await deliver(units, consent_recorded("a", False, date(2027, 2, 1)))  # older: the consent of 1 March holds
    assert offers_to(units) == [("u1", ref("a"), "open", "2027-04-01")]
    assert units.store.events("HousingOfferDeclined") == []


async def test_consent_recorded_before_anything_else_is_kept_for_the_client() -> None:
    units = FakeUnits(REGION)
    await deliver(units, consent_recorded("a", True, date(2027, 1, 2)))
    await deliver(units, placement_made("a", "p-a", date(2027, 1, 6)), assessed("a", "p-a", date(2027, 2, 1)))
    await market(units, "u1")
    assert offers_to(units) == [("u1", ref("a"), "open", "2027-04-01")]
    assert units.store.clients[ref("a")].responsible_municipality == ALMERE
