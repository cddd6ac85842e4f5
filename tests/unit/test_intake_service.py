"""Intake's service layer on the in-memory unit of work: no HTTP, no database. What a municipality's
request leads to: the event emitted, the audit line, the answer to a retry, and the refusals."""

from datetime import date
from uuid import UUID

import pytest

from tests.support.builders import intake_body, valid_bsn
from tests.support.fake_intake import FakeUnits
from tests.support.infra import ROOT
from zorgstroom_contracts.codes import EndReason
from zorgstroom_contracts.events import PlacementEnded
from zorgstroom_intake import service
from zorgstroom_intake.domain.bsn import client_ref_for
from zorgstroom_intake.schemas import IntakeCreate
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidFields, NotFound
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
SECRET = b"s" * 32
TODAY = date(2028, 6, 1)  # the service's wall-clock date, chosen so that the hand-worked dates below are past


def municipality(code: str) -> Principal:
    return Principal(
        f"municipality-{code}", OrganisationKind.MUNICIPALITY, code, frozenset({Role.INTAKE_REGISTER, Role.INTAKE_READ})
    )


async def register(units: FakeUnits, body: dict, key: str = "key-00000001", who: str = "0034") -> service.Registration:  # type: ignore[type-arg]
    return await service.register_intake(
        units, REGION, SECRET, municipality(who), IntakeCreate.model_validate(body), key, "corr-1", today=TODAY
    )


async def test_a_registration_emits_one_event_with_a_pseudonym_and_is_audited() -> None:
    units, body = FakeUnits(), intake_body(registering_municipality="0034", residence_municipality="0995")
    registration = await register(units, body)
    (envelope,) = units.store.emitted
    assert envelope.event_type == "ClientRegistered" and envelope.correlation_id == "corr-1"
    assert body["bsn"] not in envelope.model_dump_json()  # only the keyed pseudonym leaves intake
    assert (
        envelope.data["client_ref"] == registration.accepted.client_ref and len(registration.accepted.client_ref) == 64
    )
    assert envelope.data["responsible_municipality"] == registration.accepted.responsible_municipality
    assert [(a["action"], a["on_behalf_of"]) for a in units.store.audit] == [("intake.register", "municipality:0034")]
    assert registration.replayed is False


async def test_the_same_key_and_body_answer_again_without_a_second_event() -> None:
    units, body = FakeUnits(), intake_body()
    first = await register(units, body)
    again = await register(units, body)
    assert again.replayed and again.accepted == first.accepted
    assert len(units.store.emitted) == 1
    assert [line.get("outcome", "ok") for line in units.store.audit] == ["ok", "replayed"]


async def test_the_same_key_with_another_body_is_a_conflict() -> None:
    units = FakeUnits()
    await register(units, intake_body(urgency="normal"))
    with pytest.raises(Conflict) as refused:
        await register(units, intake_body(urgency="high"))
    assert refused.value.kind == "idempotency-key-reused" and len(units.store.emitted) == 1


async def test_a_municipality_registers_only_as_itself() -> None:
    units = FakeUnits()
    with pytest.raises(Forbidden):
        await register(units, intake_body(registering_municipality="0034"), who="0995")
    assert units.store.emitted == [] and units.store.keys == {}


async def test_codes_outside_the_region_are_named_field_by_field_and_nothing_is_kept() -> None:
    units = FakeUnits()
    with pytest.raises(InvalidFields) as refused:
        await register(units, intake_body(preferred_municipalities=["0034", "0363"], residence_municipality="9999"))
    assert refused.value.fields == ["residence_municipality", "preferred_municipalities.1"]
    assert units.store.emitted == [] and units.store.audit == []


async def test_reading_an_intake_is_audited_and_another_municipality_sees_nothing() -> None:
    units = FakeUnits()
    registration = await register(units, intake_body(registering_municipality="0034", residence_municipality="0034"))
    intake_id = registration.accepted.intake_id
    read = await service.read_intake(units, municipality("0034"), UUID(intake_id))
    assert (read.status, read.registering_municipality) == ("registered", "0034")
    units.store.published.add(UUID(read.event_id))
    assert (await service.read_intake(units, municipality("0034"), UUID(intake_id))).status == "published"
    with pytest.raises(NotFound):
        await service.read_intake(units, municipality("0184"), UUID(intake_id))
    assert [a["action"] for a in units.store.audit] == ["intake.register", "intake.read", "intake.read"]


async def test_a_care_form_the_region_lacks_is_refused_naming_care_form() -> None:
    units = FakeUnits()
    with pytest.raises(InvalidFields) as refused:
        await register(units, intake_body(care_form="HOUSING_FIRST"))
    assert refused.value.fields == ["care_form"] and units.store.emitted == []


async def test_a_registration_dated_after_today_is_refused_naming_registered_on() -> None:
    units = FakeUnits()
    with pytest.raises(InvalidFields) as refused:
        await register(units, intake_body(registered_on="2028-06-02"))
    assert refused.value.fields == ["registered_on"] and units.store.emitted == []
    today = await register(units, intake_body(registered_on="2028-06-01"), key="key-00000002")
    assert today.replayed is False and len(units.store.emitted) == 1


def bw_ended(bsn: str, on: str, care_form: str | None = "BW_24H", municipality: str = "0303") -> PlacementEnded:
    return PlacementEnded(
        placement_id="p-1", client_ref=client_ref_for(bsn, SECRET), facility_id="fac-1", provider_agb="11111111",
        responsible_municipality=municipality, reason=EndReason.ENDED_BY_CLIENT, end_date=date.fromisoformat(on),
        care_form=care_form,
    )  # fmt: skip


def bw_registration(bsn: str, on: str, **overrides: object) -> dict:  # type: ignore[type-arg]
    return intake_body(bsn=bsn, care_form="BW_24H", residence_municipality="0995", registered_on=on, **overrides)


async def test_the_systems_own_bw_ending_keeps_the_municipality_for_twelve_calendar_months() -> None:
    # Ended 2027-01-31: twelve calendar months on is 2028-01-31, the first day it no longer counts.
    units, bsn = FakeUnits(), valid_bsn()
    async with units() as uow:
        assert await service.record_placement_ended(uow, REGION, bw_ended(bsn, "2027-01-31")) is True
    day_before = await register(units, bw_registration(bsn, "2028-01-30"), key="key-00000001")
    that_day = await register(units, bw_registration(bsn, "2028-01-31"), key="key-00000002")
    assert (day_before.accepted.responsible_municipality, day_before.accepted.responsibility_rule) == (
        "0303",
        "woonplaatsbeginsel_recent_bw",
    )
    assert (that_day.accepted.responsible_municipality, that_day.accepted.responsibility_rule) == (
        "0995",
        "woonplaatsbeginsel_residence",
    )


async def test_the_later_of_the_systems_record_and_the_callers_last_bw_wins() -> None:
    units, bsn = FakeUnits(), valid_bsn()
    async with units() as uow:
        await service.record_placement_ended(uow, REGION, bw_ended(bsn, "2027-03-01", municipality="0303"))
    older_told = {"municipality": "0184", "ended_on": "2027-02-01"}
    newer_told = {"municipality": "0184", "ended_on": "2027-04-01"}
    kept = await register(units, bw_registration(bsn, "2027-06-01", last_bw=older_told), key="key-00000001")
    told = await register(units, bw_registration(bsn, "2027-06-01", last_bw=newer_told), key="key-00000002")
    assert kept.accepted.responsible_municipality == "0303"
    assert told.accepted.responsible_municipality == "0184"


async def test_only_bw_endings_are_kept_and_a_later_one_replaces_an_earlier_one() -> None:
    units, bsn = FakeUnits(), valid_bsn()
    async with units() as uow:
        assert await service.record_placement_ended(uow, REGION, bw_ended(bsn, "2027-05-01", "MO_24H")) is False
        assert await service.record_placement_ended(uow, REGION, bw_ended(bsn, "2027-05-01", None)) is False
        assert units.store.bw_endings == {}
        await service.record_placement_ended(uow, REGION, bw_ended(bsn, "2027-05-01", "BW_HOME", "0050"))
        await service.record_placement_ended(uow, REGION, bw_ended(bsn, "2027-03-01", "BW_24H", "0303"))  # arrives late
    kept = units.store.bw_endings[client_ref_for(bsn, SECRET)]
    assert (kept.municipality, kept.ended_on) == ("0050", date(2027, 5, 1))


async def test_a_shelter_registration_ignores_a_recent_bw() -> None:
    units, bsn = FakeUnits(), valid_bsn()
    async with units() as uow:
        await service.record_placement_ended(uow, REGION, bw_ended(bsn, "2027-05-01"))
    shelter = await register(units, intake_body(bsn=bsn, care_form="MO_24H", registered_on="2027-06-01"))
    assert shelter.accepted.responsible_municipality == "0034"
