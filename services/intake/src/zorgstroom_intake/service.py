"""Intake's service layer: check, pseudonymise, decide responsibility, store and emit in one transaction."""

import hashlib
import hmac
import json
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg

from zorgstroom_contracts.events import ClientRegistered, Household
from zorgstroom_intake.adapters import repository
from zorgstroom_intake.domain.bsn import client_ref_for
from zorgstroom_intake.domain.responsibility import PreviousBw, Responsibility, responsible_municipality
from zorgstroom_intake.schemas import IntakeAccepted, IntakeCreate, IntakePublic
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict
from zorgstroom_runtime.problems import Problem
from zorgstroom_runtime.region import Region


@dataclass(frozen=True)
class Registration:
    accepted: IntakeAccepted
    replayed: bool


def check_codes(intake: IntakeCreate, region: Region) -> None:
    """Codes the region does not know are refused with the field that holds them."""
    errors = []
    if not region.in_region(intake.registering_municipality):
        errors.append(("registering_municipality", f"{intake.registering_municipality} is not in region {region.code}"))
    if intake.residence_municipality is not None and not region.known(intake.residence_municipality):
        errors.append(("residence_municipality", f"{intake.residence_municipality} is not a CBS municipality code"))
    if intake.last_bw is not None and not region.known(intake.last_bw.municipality):
        errors.append(("last_bw.municipality", f"{intake.last_bw.municipality} is not a CBS municipality code"))
    for i, code in enumerate(intake.preferred_municipalities):
        if not region.in_region(code):
            errors.append((f"preferred_municipalities.{i}", f"{code} is not in region {region.code}"))
    if intake.last_bw is not None and intake.last_bw.ended_on > intake.registered_on:
        errors.append(("last_bw.ended_on", "a previous BW cannot end after the registration date"))
    if errors:
        raise Problem(
            422,
            "Invalid request",
            "the request is not valid: " + ", ".join(f for f, _ in errors),
            kind="invalid-request",
            errors=[{"field": f, "message": m, "type": "value_error"} for f, m in errors],
        )


def authorise_registration(principal: Principal, intake: IntakeCreate) -> None:
    principal.require(Role.INTAKE_REGISTER)
    if principal.organisation_kind is not OrganisationKind.MUNICIPALITY or (
        principal.organisation_id != intake.registering_municipality
    ):
        raise Problem(403, "Forbidden", "a municipality registers intakes only as itself")


async def register_intake(
    context: ServiceContext,
    principal: Principal,
    intake: IntakeCreate,
    idempotency_key: str,
    correlation_id: str | None,
) -> Registration:
    authorise_registration(principal, intake)
    check_codes(intake, context.region)
    secret = context.settings.client_ref_secret.get_secret_value().encode()
    client_ref = client_ref_for(intake.bsn, secret)  # from here on the BSN is not used again
    request_hash = _request_hash(intake, client_ref, secret)
    event = registered_event(intake, str(uuid4()), client_ref, decide_responsibility(intake, context.region))
    async with context.unit_of_work(correlation_id=correlation_id) as uow:
        if not await repository.claim_idempotency_key(
            uow.conn, principal.organisation, idempotency_key, request_hash, UUID(event.intake_id)
        ):
            return await _replay(uow.conn, principal, idempotency_key, request_hash)
        envelope = await uow.emit(event)
        await repository.add_intake(uow.conn, event, envelope.event_id)
        await uow.audit(
            actor=principal.name,
            on_behalf_of=principal.organisation,
            action="intake.register",
            client_ref=client_ref,
            subject=event.intake_id,
        )
    accepted = IntakeAccepted(
        intake_id=event.intake_id,
        client_ref=client_ref,
        event_id=str(envelope.event_id),
        responsible_municipality=event.responsible_municipality,
        responsibility_rule=event.responsibility_rule,
    )
    return Registration(accepted, replayed=False)


def decide_responsibility(intake: IntakeCreate, region: Region) -> Responsibility:
    policy = region.responsibility
    return responsible_municipality(
        care_form=intake.care_form,
        registering=intake.registering_municipality,
        residence=intake.residence_municipality,
        last_bw=PreviousBw(intake.last_bw.municipality, intake.last_bw.ended_on) if intake.last_bw else None,
        registered_on=intake.registered_on,
        residence_principle_from=policy.bw_residence_principle_from,
        recent_bw_months=policy.recent_bw_months,
    )


def registered_event(
    intake: IntakeCreate, intake_id: str, client_ref: str, decided: Responsibility
) -> ClientRegistered:
    """The event carries the minimum: the pseudonym and birth year, never the BSN."""
    return ClientRegistered(
        intake_id=intake_id,
        client_ref=client_ref,
        registering_municipality=intake.registering_municipality,
        responsible_municipality=decided.municipality,
        responsibility_rule=decided.rule.value,
        residence_municipality=intake.residence_municipality,
        birth_year=intake.birth_year,
        care_form=intake.care_form,
        needs=intake.needs,
        urgency=intake.urgency,
        household=Household(adults=intake.household.adults, children=intake.household.children),
        preferred_municipalities=intake.preferred_municipalities,
        registered_on=intake.registered_on,
        consent_to_share=intake.consent_to_share,
    )


async def _replay(conn: asyncpg.Connection, principal: Principal, key: str, request_hash: str) -> Registration:
    # Read committed: the conflicting insert has committed, so this statement sees its row.
    earlier = await repository.find_idempotent(conn, principal.organisation, key)
    if earlier is None:  # the conflicting registration was rolled back between the two statements
        raise Conflict("a request with this Idempotency-Key was in flight and did not complete: send it again")
    if not hmac.compare_digest(earlier["request_hash"], request_hash):
        raise Problem(
            409,
            "Conflict",
            "this Idempotency-Key was used before with another request body",
            kind="idempotency-key-reused",
        )
    return Registration(
        IntakeAccepted(
            intake_id=str(earlier["intake_id"]),
            client_ref=earlier["client_ref"],
            event_id=str(earlier["event_id"]),
            responsible_municipality=earlier["responsible_municipality"],
            responsibility_rule=earlier["responsibility_rule"],
        ),
        replayed=True,
    )


def _request_hash(intake: IntakeCreate, client_ref: str, secret: bytes) -> str:
    body = intake.model_dump(mode="json")
    body["bsn"] = client_ref
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


async def read_intake(context: ServiceContext, principal: Principal, intake_id: UUID) -> IntakePublic:
    principal.require(Role.INTAKE_READ)
    row = await repository.get_intake(context.pool, intake_id)
    own = (
        principal.organisation_kind is OrganisationKind.MUNICIPALITY
        and row is not None
        and (principal.organisation_id in (row["registering_municipality"], row["responsible_municipality"]))
    )
    if row is None or not own:  # another municipality's intake is as unknown as a missing one
        raise Problem(404, "Not found", f"no intake {intake_id} for this municipality", kind="intake-not-found")
    async with context.unit_of_work() as uow:  # reading client-level data is logged like a write
        await uow.audit(
            actor=principal.name,
            on_behalf_of=principal.organisation,
            action="intake.read",
            client_ref=row["client_ref"],
            subject=str(intake_id),
        )
    return IntakePublic(
        intake_id=str(row["intake_id"]),
        client_ref=row["client_ref"],
        status="published" if row["published"] else "registered",
        registering_municipality=row["registering_municipality"],
        responsible_municipality=row["responsible_municipality"],
        care_form=row["care_form"],
        urgency=row["urgency"],
        registered_on=row["registered_on"],
        event_id=str(row["event_id"]),
    )
