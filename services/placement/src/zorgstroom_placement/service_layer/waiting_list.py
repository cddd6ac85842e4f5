"""The regional waiting list's use cases (docs/domain.md, rules 2 and 11): a registration joins it, is read,
updated or withdrawn by the responsible municipality; a change may bring a match."""

from dataclasses import replace
from datetime import date
from typing import Any

from zorgstroom_contracts.codes import WithdrawalReason
from zorgstroom_contracts.events import (
    ClientRegistered,
    ClientWaitlisted,
    Household,
    RegistrationUpdated,
    RegistrationWithdrawn,
)
from zorgstroom_contracts.region import Region
from zorgstroom_placement.domain.waiting_list import (
    Registration,
    RegistrationStatus,
    WaitingClient,
    in_priority_order,
)
from zorgstroom_placement.ports import PlacementUnitOfWork, UnitsOfWork
from zorgstroom_placement.schemas import RegistrationUpdate
from zorgstroom_placement.service_layer.access import check_not_ahead, is_municipality, is_region_staff
from zorgstroom_placement.service_layer.matching import place_waiting_clients, take_turns
from zorgstroom_placement.service_layer.transfers import apply_due_transfers
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound


async def register(uow: PlacementUnitOfWork, region: Region, event: ClientRegistered, today: date) -> None:
    """A registration joins the list (once, however often the event arrives) and may be placed at once."""
    await apply_due_transfers(uow, region, today)
    if await uow.waiting_list.add(event):
        await uow.emit(
            ClientWaitlisted(
                client_ref=event.client_ref,
                care_form=event.care_form,
                responsible_municipality=event.responsible_municipality,
                urgency=event.urgency,
                waiting_since=event.registered_on,
            )
        )
        await place_waiting_clients(uow, region, event.care_form, on=event.registered_on)


async def read_waiting_list(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    care_form: str | None,
    municipality: str | None,
    today: date,
    correlation_id: str | None = None,
) -> list[dict[str, object]]:
    """Positions are regional (per care form), so a municipality sees where its clients stand among all."""
    principal.require(Role.WAITING_LIST_READ)
    if principal.organisation_kind is OrganisationKind.MUNICIPALITY:
        if municipality not in (None, principal.organisation_id):
            raise Forbidden("a municipality reads only its own clients on the waiting list")
        municipality = principal.organisation_id
    elif not is_region_staff(principal, region):
        raise Forbidden(f"the waiting list is for municipalities and staff of region {region.code}")
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)
        clients = await uow.waiting_list.waiting(care_form)
        await uow.audit_as(
            principal,
            "waiting_list.read",
            subject=f"care_form={care_form or '*'} municipality={municipality or '*'}",
        )  # client-level data: the read is logged
    positions: dict[str, int] = {}
    listed = []
    for c in in_priority_order(clients):
        positions[c.care_form] = positions.get(c.care_form, 0) + 1
        if municipality is None or c.responsible_municipality == municipality:
            listed.append(_listed(c, positions[c.care_form], today))
    return listed


def _listed(c: WaitingClient, position: int, today: date) -> dict[str, object]:
    return {
        "position": position,
        "intake_id": c.intake_id,  # what the responsible municipality updates or withdraws by
        "status": "waiting",
        "client_ref": c.client_ref,
        "care_form": c.care_form,
        "responsible_municipality": c.responsible_municipality,
        "urgency": c.urgency.value,
        "needs": sorted(n.value for n in c.needs),
        "waiting_since": c.waiting_since.isoformat(),
        "waiting_days": c.waiting_days(today),
    }


def registration_public(r: Registration) -> dict[str, Any]:
    return {
        "intake_id": r.intake_id,
        "client_ref": r.client_ref,
        "care_form": r.care_form,
        "responsible_municipality": r.responsible_municipality,
        "urgency": r.urgency.value,
        "needs": sorted(n.value for n in r.needs),
        "household": {"adults": r.adults, "children": r.children},
        "preferred_municipalities": list(r.preferred_municipalities),
        "status": r.status.value,
        "waiting_since": r.waiting_since.isoformat(),
    }


async def _own_waiting_registration(
    uow: PlacementUnitOfWork, region: Region, principal: Principal, intake_id: str
) -> Registration:
    """The registration, locked after its care form's matching turn (the matcher's lock order), so no match
    of it can run between this read and the caller's write."""
    unlocked = await uow.waiting_list.get(intake_id)
    if unlocked is not None:
        await take_turns(uow, region, [unlocked.care_form])
    registration = await uow.waiting_list.get_for_update(intake_id)
    if registration is None:
        raise NotFound(f"registration {intake_id} is not on the waiting list", kind="registration-not-found")
    if not is_municipality(principal, registration.responsible_municipality):
        raise Forbidden("only the responsible municipality changes a registration")
    if not registration.is_waiting:
        raise Conflict(
            f"registration {intake_id} is {registration.status.value}, no longer waiting",
            kind="registration-not-waiting",
            registration_status=registration.status.value,
        )
    return registration


def _updated_event(r: Registration, updated_on: date) -> RegistrationUpdated:
    return RegistrationUpdated(
        intake_id=r.intake_id,
        client_ref=r.client_ref,
        responsible_municipality=r.responsible_municipality,
        care_form=r.care_form,
        needs=list(r.needs),
        urgency=r.urgency,
        household=Household(adults=r.adults, children=r.children),
        preferred_municipalities=list(r.preferred_municipalities),
        updated_on=updated_on,
    )


async def update_registration(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    intake_id: str,
    body: RegistrationUpdate,
    today: date,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Rule 11: the responsible municipality changes needs, urgency, household or preferences of a waiting
    registration; its place on the list follows, and a match may follow at once."""
    principal.require(Role.INTAKE_REGISTER)
    updated_on = body.updated_on or today
    check_not_ahead("updated_on", updated_on, today, region)
    for i, code in enumerate(body.preferred_municipalities or []):
        if not region.in_region(code):
            raise InvalidField(f"preferred_municipalities.{i}", f"{code} is not in region {region.code}")
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)
        before = await _own_waiting_registration(uow, region, principal, intake_id)
        after = before.updated(
            needs=body.needs,
            urgency=body.urgency,
            household=(body.household.adults, body.household.children) if body.household else None,
            preferred_municipalities=body.preferred_municipalities,
        )
        await uow.waiting_list.save(after)
        await uow.emit(_updated_event(after, updated_on))
        await uow.audit_as(principal, "registration.update", client_ref=after.client_ref, subject=intake_id)
        # The match happens today: updated_on only dates the event, and must not backdate other clients' starts.
        await place_waiting_clients(uow, region, after.care_form, on=today)
        now = await uow.waiting_list.get_for_update(intake_id)
    return registration_public(now or after)


async def withdraw_registration(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    intake_id: str,
    reason: WithdrawalReason,
    withdrawn_on: date | None,
    today: date,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Rule 11: a withdrawn registration leaves the list with a reason and is never placed."""
    principal.require(Role.INTAKE_REGISTER)
    day = withdrawn_on or today
    check_not_ahead("withdrawn_on", day, today, region)
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)
        registration = await _own_waiting_registration(uow, region, principal, intake_id)
        if day < registration.waiting_since:
            raise InvalidField("withdrawn_on", f"the registration dates from {registration.waiting_since}")
        withdrawn = await _withdraw(uow, registration, reason, day)
        await uow.audit_as(
            principal, "registration.withdraw", client_ref=withdrawn.client_ref, subject=f"{intake_id} reason={reason}"
        )
    return registration_public(withdrawn)


async def _withdraw(
    uow: PlacementUnitOfWork, registration: Registration, reason: WithdrawalReason, day: date
) -> Registration:
    """The caller holds the registration's care form's turn and its row."""
    withdrawn = replace(registration, status=RegistrationStatus.WITHDRAWN)
    await uow.waiting_list.save(withdrawn)
    await uow.emit(
        RegistrationWithdrawn(
            intake_id=withdrawn.intake_id,
            client_ref=withdrawn.client_ref,
            responsible_municipality=withdrawn.responsible_municipality,
            care_form=withdrawn.care_form,
            reason=reason,
            withdrawn_on=day,
        )
    )
    return withdrawn


async def withdraw_after_outflow(uow: PlacementUnitOfWork, client_ref: str, outflow_date: date) -> list[Registration]:
    """Rule 7 with 11: a client who moved out to a home of their own needs no other place; their registrations
    still waiting (a doorstroom registration, say) leave the list with reason other_solution. The caller holds
    the matching turns of the client's care forms."""
    waiting = [r for r in await uow.waiting_list.episode_of(client_ref) if r.is_waiting]
    return [
        await _withdraw(uow, r, WithdrawalReason.OTHER_SOLUTION, max(outflow_date, r.waiting_since)) for r in waiting
    ]
