"""Intake's service layer: check, pseudonymise, decide responsibility, store and emit in one transaction;
and keep the system's own record of BW endings that the 12-month BW rule reads (docs/domain.md, 'Relapse').

It receives narrow dependencies (a unit-of-work factory, the region, the pseudonymisation secret, today's
date), raises plain application errors (runtime.errors) and knows nothing of HTTP or of the composition
root.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid4

from zorgstroom_contracts.events import ClientRegistered, Household, PlacementEnded
from zorgstroom_intake.domain.bsn import client_ref_for
from zorgstroom_intake.domain.responsibility import PreviousBw, Responsibility, latest_bw, responsible_municipality
from zorgstroom_intake.ports import IntakeUnitOfWork, KeyClaim, UnitsOfWork
from zorgstroom_intake.schemas import IntakeAccepted, IntakeCreate, IntakePublic
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidFields, NotFound
from zorgstroom_runtime.region import Region


@dataclass(frozen=True)
class Registration:
    accepted: IntakeAccepted
    replayed: bool


def check_codes(intake: IntakeCreate, region: Region, today: date) -> None:
    """Codes the region does not know, and dates it does not allow, are refused with the field that holds
    them (a care form is region data; a registration lies no further ahead than docs/domain.md, 'Dates' allows)."""
    errors = []
    if not region.has_care_form(intake.care_form):
        errors.append(("care_form", f"{intake.care_form} is not a care form of region {region.code}"))
    if (refusal := region.dates.too_late(intake.registered_on, today)) is not None:
        errors.append(("registered_on", refusal))
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
        raise InvalidFields(errors)


def authorise_registration(principal: Principal, intake: IntakeCreate) -> None:
    principal.require(Role.INTAKE_REGISTER)
    if principal.organisation_kind is not OrganisationKind.MUNICIPALITY or (
        principal.organisation_id != intake.registering_municipality
    ):
        raise Forbidden("a municipality registers intakes only as itself")


async def register_intake(
    units: UnitsOfWork,
    region: Region,
    secret: bytes,
    principal: Principal,
    intake: IntakeCreate,
    idempotency_key: str,
    correlation_id: str | None = None,
    *,
    today: date,
    caller: str = "",
) -> Registration:
    """`caller` is the credential behind the request (zorgstroom_runtime.idempotency.credential_of): a key is
    bound to it as well as to the body, so another credential of the same organisation that sends the same key
    is refused, and never reads an answer given to another."""
    authorise_registration(principal, intake)
    check_codes(intake, region, today)
    client_ref = client_ref_for(intake.bsn, secret)  # from here on the BSN is not used again
    request_hash = _request_hash(intake, client_ref, secret, caller)
    claim = KeyClaim(principal.organisation, idempotency_key, request_hash)
    # Two round trips: the BW record read, then one statement that claims the key and stores the intake, its
    # event and its audit line, all or nothing (committed, so durable, before the 202).
    async with units(correlation_id=correlation_id, single_statements=True) as uow:
        decided = decide_responsibility(intake, region, recorded_bw=await uow.bw_endings.latest(client_ref))
        event = registered_event(intake, str(uuid4()), client_ref, decided)
        envelope = await uow.register(claim, event, decided.rule.value, actor=principal.name)
        if envelope is None:
            return await _replay(uow, principal, idempotency_key, request_hash)
    accepted = _accepted(event.intake_id, client_ref, envelope.event_id, decided.municipality, decided.rule.value)
    return Registration(accepted, replayed=False)


def _accepted(
    intake_id: object, client_ref: str, event_id: UUID, responsible_municipality: str, responsibility_rule: str
) -> IntakeAccepted:
    return IntakeAccepted(
        intake_id=str(intake_id),
        client_ref=client_ref,
        event_id=str(event_id),
        responsible_municipality=responsible_municipality,
        responsibility_rule=responsibility_rule,
    )


def decide_responsibility(
    intake: IntakeCreate, region: Region, *, recorded_bw: PreviousBw | None = None
) -> Responsibility:
    """The rule of docs/domain.md 'Who is responsible', with the later of the system's record of the client's
    last BW ending and the one the caller sends (docs/domain.md, 'Relapse')."""
    told = PreviousBw(intake.last_bw.municipality, intake.last_bw.ended_on) if intake.last_bw else None
    return responsible_municipality(
        care_form=region.care_form(intake.care_form),
        registering=intake.registering_municipality,
        residence=intake.residence_municipality,
        last_bw=latest_bw(recorded_bw, told, intake.registered_on),
        registered_on=intake.registered_on,
        policy=region.responsibility,
    )


def registered_event(
    intake: IntakeCreate, intake_id: str, client_ref: str, decided: Responsibility
) -> ClientRegistered:
    """The event carries the minimum its consumers need (docs/privacy.md): the pseudonym, never the BSN;
    not the birth year, the residence or the rule that decided responsibility, which stay with intake."""
    return ClientRegistered(
        intake_id=intake_id,
        client_ref=client_ref,
        registering_municipality=intake.registering_municipality,
        responsible_municipality=decided.municipality,
        care_form=intake.care_form,
        needs=intake.needs,
        urgency=intake.urgency,
        household=Household(adults=intake.household.adults, children=intake.household.children),
        preferred_municipalities=intake.preferred_municipalities,
        registered_on=intake.registered_on,
        consent_to_share=intake.consent_to_share,
    )


async def _replay(uow: IntakeUnitOfWork, principal: Principal, key: str, request_hash: str) -> Registration:
    # Read committed: the conflicting insert has committed, so this statement sees its row.
    earlier = await uow.intakes.by_key(principal.organisation, key)
    if earlier is None:  # the conflicting registration was rolled back between the two statements
        raise Conflict("a request with this Idempotency-Key was in flight and did not complete: send it again")
    if not hmac.compare_digest(earlier.request_hash, request_hash):
        raise Conflict(
            "this Idempotency-Key was used before with another request body or by another credential",
            kind="idempotency-key-reused",
        )
    row = earlier.intake
    accepted = _accepted(
        row.intake_id, row.client_ref, row.event_id, row.responsible_municipality, row.responsibility_rule
    )
    # The answer names the client again: showing it is audited like any read, as the runtime's replays are.
    await uow.audit(
        actor=principal.name,
        on_behalf_of=principal.organisation,
        action="intake.register",
        client_ref=row.client_ref,
        subject=accepted.intake_id,
        outcome="replayed",
    )
    return Registration(accepted, replayed=True)


def _request_hash(intake: IntakeCreate, client_ref: str, secret: bytes, caller: str) -> str:
    body = intake.model_dump(mode="json")
    body["bsn"] = client_ref
    canonical = json.dumps({"caller": caller, "body": body}, sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


async def read_intake(units: UnitsOfWork, principal: Principal, intake_id: UUID) -> IntakePublic:
    principal.require(Role.INTAKE_READ)
    async with units() as uow:  # reading client-level data is logged like a write
        row = await uow.intakes.get(intake_id)
        own = (
            principal.organisation_kind is OrganisationKind.MUNICIPALITY
            and row is not None
            and (principal.organisation_id in (row.registering_municipality, row.responsible_municipality))
        )
        if row is None or not own:  # another municipality's intake is as unknown as a missing one
            raise NotFound(f"no intake {intake_id} for this municipality", kind="intake-not-found")
        published = await uow.published(row.event_id)
        await uow.audit(
            actor=principal.name,
            on_behalf_of=principal.organisation,
            action="intake.read",
            client_ref=row.client_ref,
            subject=str(intake_id),
        )
    return IntakePublic(
        intake_id=str(row.intake_id),
        client_ref=row.client_ref,
        status="published" if published else "registered",
        registering_municipality=row.registering_municipality,
        responsible_municipality=row.responsible_municipality,
        care_form=row.care_form,
        urgency=row.urgency,
        registered_on=row.registered_on,
        event_id=str(row.event_id),
    )


async def record_placement_ended(uow: IntakeUnitOfWork, region: Region, event: PlacementEnded) -> bool:
    """Keep a BW ending (care-form group BW) as the system's own record for the 12-month BW rule, with the
    municipality responsible for that BW then. True when it was a BW ending.

    A PlacementEnded without a care form (written before v1 carried one) or with a code the region does
    not know cannot be told apart from shelter, so it is not kept: the caller's `last_bw` still serves."""
    if event.care_form is None or not region.has_care_form(event.care_form):
        return False
    if not region.care_form(event.care_form).is_sheltered_housing:
        return False
    ending = PreviousBw(event.responsible_municipality, event.end_date)
    await uow.bw_endings.record(event.client_ref, ending, event.placement_id)
    return True
