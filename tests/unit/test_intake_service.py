"""Intake's service layer on the in-memory unit of work: no HTTP, no database. What a municipality's
request leads to: the event emitted, the audit line, the answer to a retry, and the refusals."""

import pytest

from tests.support.builders import intake_body
from tests.support.fake_intake import FakeUnits
from tests.support.infra import ROOT
from zorgstroom_intake import service
from zorgstroom_intake.schemas import IntakeCreate
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidFields, NotFound
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
SECRET = b"s" * 32


def municipality(code: str) -> Principal:
    return Principal(
        f"municipality-{code}", OrganisationKind.MUNICIPALITY, code, frozenset({Role.INTAKE_REGISTER, Role.INTAKE_READ})
    )


async def register(units: FakeUnits, body: dict, key: str = "key-00000001", who: str = "0034") -> service.Registration:  # type: ignore[type-arg]
    return await service.register_intake(
        units, REGION, SECRET, municipality(who), IntakeCreate.model_validate(body), key, "corr-1"
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
    assert len(units.store.emitted) == 1 and len(units.store.audit) == 1


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
    from uuid import UUID

    read = await service.read_intake(units, municipality("0034"), UUID(intake_id))
    assert (read.status, read.registering_municipality) == ("registered", "0034")
    units.store.published.add(UUID(read.event_id))
    assert (await service.read_intake(units, municipality("0034"), UUID(intake_id))).status == "published"
    with pytest.raises(NotFound):
        await service.read_intake(units, municipality("0184"), UUID(intake_id))
    assert [a["action"] for a in units.store.audit] == ["intake.register", "intake.read", "intake.read"]
