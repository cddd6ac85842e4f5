"""Placement's service layer: the waiting list, facilities, matching, assessments, endings, outflow,
transfers. Each function runs in the caller's unit of work and raises application errors, never HTTP."""

from datetime import date
from uuid import uuid4

import asyncpg

from zorgstroom_contracts import Envelope, provider_topic
from zorgstroom_contracts.codes import CareForm, EndReason, Unit, ZrmDomain
from zorgstroom_contracts.events import (
    ClientRegistered,
    ClientWaitlisted,
    FacilityRegistered,
    HousingOfferAccepted,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_contracts.types import municipality_wijk_matches
from zorgstroom_placement.adapters import repository
from zorgstroom_placement.adapters.repository import Facility, Placement
from zorgstroom_placement.domain.matching import match_waiting_clients
from zorgstroom_placement.domain.readiness import (
    ReadinessPolicy,
    SupportPolicy,
    is_ready_for_outflow,
    needs_support_at_home,
)
from zorgstroom_placement.domain.waiting_list import WaitingClient, in_priority_order
from zorgstroom_placement.schemas import AssessmentCreate, FacilityPut, PlacementEnd, TransferCreate
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.consumer import Rejected
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound
from zorgstroom_runtime.outbox import UnitOfWork
from zorgstroom_runtime.region import Region

# --- the waiting list and matching ------------------------------------------------------------


async def on_client_registered(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
    if await repository.add_to_waiting_list(uow.conn, event):
        await uow.emit(
            ClientWaitlisted(
                client_ref=event.client_ref,
                care_form=event.care_form,
                responsible_municipality=event.responsible_municipality,
                urgency=event.urgency,
                waiting_since=event.registered_on,
            )
        )
        await place_waiting_clients(uow, event.care_form, on=event.registered_on)


def _one_entry_per_client(clients: list[WaitingClient]) -> list[WaitingClient]:
    """A client registered twice is placed once: by the entry that stands first on the list."""
    seen: set[str] = set()
    first = []
    for client in in_priority_order(clients):
        if client.client_ref not in seen:
            seen.add(client.client_ref)
            first.append(client)
    return first


async def place_waiting_clients(uow: UnitOfWork, care_form: CareForm, *, on: date) -> list[PlacementMade]:
    """Give free places of one care form to waiting clients (DOMAIN.md rule 3), `on` being the business
    date that freed or brought them. Matchers of a care form take turns, so none can overfill a place."""
    await repository.lock_matching(uow.conn, care_form)
    facilities = {f.facility_id: f for f in await repository.facilities_with_free_places(uow.conn, care_form)}
    if not facilities:
        return []
    clients = _one_entry_per_client(await repository.clients_to_place(uow.conn, care_form))
    made = []
    for match in match_waiting_clients(clients, [f.places() for f in facilities.values()]):
        facility, client = facilities[match.facility_id], match.client
        start = max(client.waiting_since, on)
        placement = Placement(
            placement_id=uuid4().hex,
            intake_id=client.intake_id,
            client_ref=client.client_ref,
            facility_id=facility.facility_id,
            provider_agb=facility.provider_agb,
            responsible_municipality=client.responsible_municipality,
            care_form=care_form,
            start_date=start,
            end_date=None,
            ready=False,
            support_at_home=False,
        )
        await repository.add_placement(uow.conn, placement)
        await repository.occupy(uow.conn, facility.facility_id, 1)
        event = PlacementMade(
            placement_id=placement.placement_id,
            client_ref=client.client_ref,
            facility_id=facility.facility_id,
            provider_agb=facility.provider_agb,
            facility_municipality=facility.municipality,
            wijk=facility.wijk,
            responsible_municipality=client.responsible_municipality,
            care_form=care_form,
            start_date=start,
            waited_days=(start - client.waiting_since).days,
            product_category=care_form.product_category,
            unit=Unit.ETMAAL,
            intake_id=client.intake_id,
        )
        await uow.emit(event, also_to=[provider_topic(facility.provider_agb)])
        made.append(event)
    return made


async def read_waiting_list(
    uow: UnitOfWork, principal: Principal, care_form: CareForm | None, municipality: str | None, today: date
) -> list[dict[str, object]]:
    principal.require(Role.WAITING_LIST_READ)
    if principal.organisation_kind is OrganisationKind.MUNICIPALITY:
        if municipality not in (None, principal.organisation_id):
            raise Forbidden("a municipality reads only its own clients on the waiting list")
        municipality = principal.organisation_id
    elif principal.organisation_kind is not OrganisationKind.REGION:
        raise Forbidden("the waiting list is for municipalities and region staff")
    clients = await repository.waiting_clients(
        uow.conn, care_form=care_form.value if care_form else None, municipality=None
    )
    await uow.audit_as(
        principal,
        "waiting_list.read",
        subject=f"care_form={care_form.value if care_form else '*'} municipality={municipality or '*'}",
    )  # client-level data: the read is logged
    # Positions are regional (per care form), so a municipality sees where its clients stand among all.
    positions: dict[CareForm, int] = {}
    listed = []
    for c in in_priority_order(clients):
        positions[c.care_form] = positions.get(c.care_form, 0) + 1
        if municipality is None or c.responsible_municipality == municipality:
            listed.append(
                {
                    "position": positions[c.care_form],
                    "client_ref": c.client_ref,
                    "care_form": c.care_form.value,
                    "responsible_municipality": c.responsible_municipality,
                    "urgency": c.urgency.value,
                    "needs": sorted(n.value for n in c.needs),
                    "waiting_since": c.waiting_since.isoformat(),
                    "waiting_days": c.waiting_days(today),
                }
            )
    return listed


# --- facilities --------------------------------------------------------------------------------


def _authorise_facility(principal: Principal, provider_agb: str, existing: Facility | None) -> None:
    principal.require(Role.FACILITIES_WRITE)
    if principal.organisation_kind is OrganisationKind.REGION:
        return
    if principal.organisation_kind is not OrganisationKind.PROVIDER:
        raise Forbidden("facilities are registered by region staff or by their own provider")
    owners = {provider_agb} | ({existing.provider_agb} if existing else set())
    if owners != {principal.organisation_id}:
        raise Forbidden("a provider registers and changes only its own facilities")


def _check_facility(region: Region, body: FacilityPut) -> None:
    if not region.in_region(body.municipality):
        raise InvalidField("municipality", f"{body.municipality} is not in region {region.code}")
    if body.care_form is CareForm.BW_HOME:
        if body.wijk is not None:
            raise InvalidField("wijk", "a BW_HOME team works in clients' own homes and has no wijk")
    elif body.wijk is None:
        raise InvalidField("wijk", "a facility building needs its CBS wijk code")
    elif not municipality_wijk_matches(body.municipality, body.wijk):
        raise InvalidField("wijk", f"{body.wijk} does not lie in municipality {body.municipality}")


async def put_facility(
    uow: UnitOfWork, region: Region, principal: Principal, facility_id: str, body: FacilityPut
) -> tuple[Facility, bool]:
    """Register or change a facility; returns it and whether it is new. Refuses (409) a capacity below
    the places in use or over the wijk's cap on places (DOMAIN.md rule 4, held by the database)."""
    _check_facility(region, body)
    existing = await repository.facility(uow.conn, facility_id)  # no row lock yet: matching's lock comes first
    _authorise_facility(principal, body.provider_agb, existing)
    for care_form in sorted({body.care_form} | ({existing.care_form} if existing else set())):
        await repository.lock_matching(uow.conn, care_form)
    existing = await repository.facility_for_update(uow.conn, facility_id)  # as it is now that we hold the lock
    occupied = existing.occupied if existing else 0
    if existing and occupied and existing.care_form is not body.care_form:
        raise Conflict(f"facility {facility_id} has clients in place; its care form cannot change", kind="in-use")
    if body.capacity < occupied:
        raise Conflict(
            f"facility {facility_id} has {occupied} clients in place; capacity cannot drop below that",
            kind="capacity-below-occupancy",
            occupied=occupied,
        )
    facility = Facility(facility_id=facility_id, occupied=occupied, **body.model_dump())
    if existing == facility:
        return facility, False
    await _move_wijk_places(uow, region, existing, facility)
    await repository.save_facility(uow.conn, facility)
    await uow.emit(FacilityRegistered(facility_id=facility_id, **body.model_dump()))
    await uow.audit_as(principal, "facility.put", subject=facility_id)
    if existing is None or facility.free_places > existing.free_places or existing.care_form is not facility.care_form:
        await place_waiting_clients(uow, facility.care_form, on=date.today())
    return facility, existing is None


async def _move_wijk_places(uow: UnitOfWork, region: Region, old: Facility | None, new: Facility) -> None:
    changes: dict[str, int] = {}
    if old is not None and old.wijk is not None:
        changes[old.wijk] = changes.get(old.wijk, 0) - old.capacity
    if new.wijk is not None:
        changes[new.wijk] = changes.get(new.wijk, 0) + new.capacity
    for wijk, delta in sorted(changes.items()):
        cap = region.placement.wijk_place_cap(wijk)
        try:
            async with uow.conn.transaction():  # a savepoint: the refusal leaves nothing half-written
                await repository.add_wijk_places(uow.conn, wijk, delta, cap)
        except asyncpg.CheckViolationError as error:
            raise Conflict(
                f"wijk {wijk} would hold more facility places than its cap of {cap}",
                kind="wijk-cap-exceeded",
                wijk=wijk,
                cap=cap,
            ) from error


async def list_facilities(
    uow: UnitOfWork, principal: Principal, care_form: CareForm | None, municipality: str | None
) -> list[Facility]:
    return await repository.facilities(
        uow.conn, care_form=care_form.value if care_form else None, municipality=municipality
    )


# --- assessments, endings, outflow -------------------------------------------------------------


async def _placement(uow: UnitOfWork, placement_id: str) -> Placement:
    placement = await repository.placement_for_update(uow.conn, placement_id)
    if placement is None:
        raise NotFound(f"placement {placement_id} is not known")
    return placement


def _is_provider_of(principal: Principal, placement: Placement) -> bool:
    return (
        principal.organisation_kind is OrganisationKind.PROVIDER and principal.organisation_id == placement.provider_agb
    )


def _is_responsible_for(principal: Principal, municipality: str) -> bool:
    return principal.organisation_kind is OrganisationKind.MUNICIPALITY and principal.organisation_id == municipality


async def assess(
    uow: UnitOfWork, region: Region, principal: Principal, placement_id: str, body: AssessmentCreate
) -> tuple[OutflowReadinessAssessed, Envelope]:
    """The provider's ZRM scores and the client's own voice; readiness by the region's policy (rule 5)."""
    principal.require(Role.PLACEMENTS_WRITE)
    placement = await _placement(uow, placement_id)
    if not _is_provider_of(principal, placement):
        raise Forbidden("only the provider of a placement assesses it")
    if placement.end_date is not None:
        raise Conflict(f"placement {placement_id} ended on {placement.end_date}", kind="placement-ended")
    if body.assessed_on < placement.start_date:
        raise InvalidField("assessed_on", "an assessment cannot predate the placement")
    for i, code in enumerate(body.preferred_municipalities or []):
        if not region.known(code):
            raise InvalidField(f"preferred_municipalities.{i}", f"{code} is not a CBS municipality code")
    scores = {ZrmDomain(k): v for k, v in body.scores.items()}
    policy = region.placement
    readiness = ReadinessPolicy(policy.readiness_threshold, frozenset(policy.readiness_required_domains))
    ready = is_ready_for_outflow(scores, body.client_wants_to_move, readiness)
    support = needs_support_at_home(scores, SupportPolicy(policy.support_at_home_below))
    await repository.record_assessment(
        uow.conn,
        placement_id,
        body.assessed_on,
        body.scores,
        body.client_scores,
        body.client_wants_to_move,
        ready,
        support,
    )
    if body.preferred_municipalities is not None:
        await repository.update_preferences(uow.conn, placement.client_ref, body.preferred_municipalities)
    event = OutflowReadinessAssessed(
        placement_id=placement_id,
        client_ref=placement.client_ref,
        provider_agb=placement.provider_agb,
        responsible_municipality=placement.responsible_municipality,
        assessed_on=body.assessed_on,
        scores=scores,
        ready=ready,
        client_wants_to_move=body.client_wants_to_move,
        client_scores=None if body.client_scores is None else {ZrmDomain(k): v for k, v in body.client_scores.items()},
        preferred_municipalities=body.preferred_municipalities,
        support_at_home=support,
    )
    envelope = await uow.emit(event, also_to=[provider_topic(placement.provider_agb)])
    await uow.audit_as(principal, "placement.assess", client_ref=placement.client_ref, subject=placement_id)
    return event, envelope


async def end(
    uow: UnitOfWork, principal: Principal, placement_id: str, body: PlacementEnd
) -> tuple[PlacementEnded, Envelope]:
    """End a placement with a WMO588 reason (its provider or the responsible municipality); the freed place
    goes to the next waiting client."""
    principal.require(Role.PLACEMENTS_WRITE)
    placement = await _placement(uow, placement_id)
    if not (
        _is_provider_of(principal, placement) or _is_responsible_for(principal, placement.responsible_municipality)
    ):
        raise Forbidden("a placement is ended by its provider or by the responsible municipality")
    if placement.end_date is not None:
        raise Conflict(f"placement {placement_id} ended on {placement.end_date}", kind="placement-ended")
    if body.end_date < placement.start_date:
        raise InvalidField("end_date", f"the placement started on {placement.start_date}")
    event, envelope = await _end_placement(uow, placement, body.reason, body.end_date)
    await uow.audit_as(
        principal,
        "placement.end",
        client_ref=placement.client_ref,
        subject=f"{placement_id} reason={body.reason.value}",
    )
    await place_waiting_clients(uow, placement.care_form, on=body.end_date)
    return event, envelope


async def _end_placement(
    uow: UnitOfWork, placement: Placement, reason: EndReason, end_date: date
) -> tuple[PlacementEnded, Envelope]:
    await repository.lock_matching(uow.conn, placement.care_form)  # before the facility row: one lock order
    await repository.end_placement(uow.conn, placement.placement_id, reason.value, end_date)
    await repository.occupy(uow.conn, placement.facility_id, -1)
    event = PlacementEnded(
        placement_id=placement.placement_id,
        client_ref=placement.client_ref,
        facility_id=placement.facility_id,
        provider_agb=placement.provider_agb,
        responsible_municipality=placement.responsible_municipality,
        reason=reason,
        end_date=end_date,
    )
    return event, await uow.emit(event, also_to=[provider_topic(placement.provider_agb)])


async def on_housing_offer_accepted(uow: UnitOfWork, envelope: Envelope, event: HousingOfferAccepted) -> None:
    """Outflow (DOMAIN.md rule 7): the placement ends with 19 and OutflowCompleted records the move."""
    placement = await repository.open_placement_of(uow.conn, event.client_ref)
    if placement is None:
        raise Rejected(f"offer {event.offer_id} was accepted by a client who holds no place")
    if event.municipality is None:
        raise Rejected(f"offer {event.offer_id} names no municipality for the new home")
    outflow_date = max(event.answered_on, placement.start_date)
    await _end_placement(uow, placement, EndReason.ENDED_AS_PLANNED, outflow_date)
    await uow.emit(
        OutflowCompleted(
            placement_id=placement.placement_id,
            client_ref=placement.client_ref,
            unit_id=event.unit_id,
            responsible_municipality=placement.responsible_municipality,
            municipality=event.municipality,
            outflow_date=outflow_date,
            support_at_home="BW_HOME" if placement.support_at_home else "none",
            wijk=event.wijk,
            facility_id=placement.facility_id,
            provider_agb=placement.provider_agb,
        ),
        also_to=[provider_topic(placement.provider_agb)],
    )
    await place_waiting_clients(uow, placement.care_form, on=outflow_date)


async def provider_placements(uow: UnitOfWork, principal: Principal, provider_agb: str) -> list[Placement]:
    """A provider's open placements, to reconcile with its own topic: its own clients only."""
    principal.require(Role.PLACEMENTS_WRITE)
    if principal.organisation_kind is not OrganisationKind.PROVIDER or principal.organisation_id != provider_agb:
        raise Forbidden("a provider reads only its own placements")
    placements = await repository.open_placements_of_provider(uow.conn, provider_agb)
    await uow.audit_as(principal, "placements.read", subject=provider_agb)
    return placements


# --- responsibility ----------------------------------------------------------------------------


async def transfer(
    uow: UnitOfWork, region: Region, principal: Principal, client_ref: str, body: TransferCreate
) -> tuple[ResponsibilityTransferred, Envelope]:
    """A reasoned transfer to another municipality (DOMAIN.md rule 9); never automatic."""
    principal.require(Role.CLIENTS_TRANSFER)
    current = await repository.responsible_for_update(uow.conn, client_ref)
    if current is None:
        raise NotFound("this client is not known to placement")
    if not _is_responsible_for(principal, current):
        raise Forbidden("only the responsible municipality transfers a client")
    if not region.known(body.to_municipality):
        raise InvalidField("to_municipality", f"{body.to_municipality} is not a CBS municipality code")
    if body.to_municipality == current:
        raise InvalidField("to_municipality", "the client's responsible municipality already")
    to_in_region = region.in_region(body.to_municipality)
    await repository.transfer_client(uow.conn, client_ref, body.to_municipality, leaves_region=not to_in_region)
    event = ResponsibilityTransferred(
        client_ref=client_ref,
        from_municipality=current,
        to_municipality=body.to_municipality,
        to_in_region=to_in_region,
        reason=body.reason,
        effective_on=body.effective_on,
    )
    envelope = await uow.emit(event)
    await uow.audit_as(
        principal,
        "client.transfer",
        client_ref=client_ref,
        subject=f"{current}->{body.to_municipality} reason={body.reason.value}",
    )
    return event, envelope
