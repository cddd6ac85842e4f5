"""Consent to share with housing corporations (docs/domain.md, rules 14 and 15) in placement's service layer:
the municipality responsible for the client today records it given or withdrawn, as ConsentRecorded."""

from datetime import date, timedelta

import pytest

from tests.support.fake_placement import FakeUnits, client_registered, facility_put, municipality, provider, ref
from tests.support.fake_placement import region_staff as region_staff_of
from tests.support.infra import ROOT
from zorgstroom_contracts.codes import TransferReason
from zorgstroom_placement.service_layer import consent, facilities, transfers, waiting_list
from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.errors import Forbidden, InvalidField, NotFound
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
TODAY = date(2027, 3, 31)
ALMERE, DRONTEN = municipality("0034"), municipality("0303")


async def register(units: FakeUnits, intake_id: str, client: str) -> None:
    async with units.event() as uow:
        await waiting_list.register(uow, REGION, client_registered(intake_id, client), TODAY)


async def record(
    units: FakeUnits,
    given: bool,
    who: Principal = ALMERE,
    client: str = "c1",
    on: date | None = None,
    today: date = TODAY,
) -> dict[str, object]:
    event, envelope = await consent.record_consent(units, REGION, who, ref(client), given, on, today)
    assert str(envelope.event_id)
    return event.model_dump(mode="json")


async def test_consent_given_is_emitted_dated_today_by_default_and_audited() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await record(units, True)
    (event,) = units.store.events("ConsentRecorded")
    assert event == {
        "client_ref": ref("c1"),
        "responsible_municipality": "0034",
        "consent_to_share": True,
        "recorded_on": "2027-03-31",
    }
    assert units.store.audit[-1] == {
        "on_behalf_of": ALMERE.organisation,
        "action": "client.consent",
        "client_ref": ref("c1"),
        "subject": "consent=true",
    }


async def test_consent_withdrawn_on_an_earlier_day_carries_that_day_and_says_false() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    await record(units, False, on=date(2027, 3, 20))
    (event,) = units.store.events("ConsentRecorded")
    assert (event["consent_to_share"], event["recorded_on"]) == (False, "2027-03-20")
    assert units.store.audit[-1]["subject"] == "consent=false"


async def test_consent_of_a_client_in_a_place_may_be_recorded() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    put = facility_put("11111111", "0034", "WK003401", 1)
    await facilities.put_facility(units, REGION, region_staff_of(), "almere-1", put, TODAY)
    assert units.store.events("PlacementMade")  # c1 is placed, no longer waiting
    await record(units, True)
    assert [e["consent_to_share"] for e in units.store.events("ConsentRecorded")] == [True]


async def test_a_date_beyond_the_regions_margin_is_refused_naming_recorded_on() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    latest = REGION.dates.latest_allowed(TODAY)
    await record(units, True, on=latest)  # the last day allowed is allowed
    with pytest.raises(InvalidField) as refused:
        await record(units, True, on=latest + timedelta(days=1))
    assert refused.value.field == "recorded_on"
    assert len(units.store.events("ConsentRecorded")) == 1


async def test_another_municipality_may_not_record_consent() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    with pytest.raises(Forbidden):
        await record(units, True, who=DRONTEN)
    assert units.store.events("ConsentRecorded") == [] and units.store.audit == []


@pytest.mark.parametrize("who", [provider("11111111"), region_staff_of()])
async def test_only_a_municipality_with_the_registration_role_records_consent(who: Principal) -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    with pytest.raises(Forbidden):
        await record(units, True, who=who)
    assert units.store.events("ConsentRecorded") == []


async def test_consent_of_a_client_placement_does_not_know_is_not_found() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    with pytest.raises(NotFound):
        await record(units, True, client="stranger")
    assert units.store.events("ConsentRecorded") == []


async def test_a_transfer_that_took_effect_today_moves_who_records_consent() -> None:
    units = FakeUnits()
    await register(units, "i-1", "c1")
    effective = date(2027, 4, 10)
    proposal = await transfers.propose(
        units, REGION, ALMERE, ref("c1"), "0303", TransferReason.ORIGIN, effective, TODAY
    )
    await transfers.accept(units, REGION, DRONTEN, proposal.transfer_id, None, TODAY)
    await record(units, True, today=effective - timedelta(days=1))  # still Almere's the day before
    with pytest.raises(Forbidden):
        await record(units, False, today=effective)
    await record(units, False, who=DRONTEN, today=effective)  # the due transfer is applied first
    assert [(e["responsible_municipality"], e["consent_to_share"]) for e in units.store.events("ConsentRecorded")] == [
        ("0034", True),
        ("0303", False),
    ]
