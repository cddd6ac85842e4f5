"""Housing's service layer: corporations offer units and set quotas; ready clients are tracked."""

import asyncpg

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import HousingUnitOffered, OutflowReadinessAssessed
from zorgstroom_housing.adapters import repository
from zorgstroom_housing.schemas import ContingentPublic, HousingUnitCreate
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.outbox import UnitOfWork
from zorgstroom_runtime.problems import Problem


def authorise_corporation(principal: Principal, corporation_id: str) -> None:
    principal.require(Role.HOUSING_WRITE)
    if principal.organisation_kind is not OrganisationKind.CORPORATION or principal.organisation_id != corporation_id:
        raise Problem(403, "Forbidden", "a corporation acts only for itself")


def check_in_region(context: ServiceContext, municipality: str) -> None:
    if not context.region.in_region(municipality):
        raise Problem(
            422,
            "Invalid request",
            f"municipality: {municipality} is not in region {context.region.code}",
            kind="invalid-request",
            errors=[{"field": "municipality", "message": "not in region"}],
        )


async def offer_unit(
    context: ServiceContext, principal: Principal, unit: HousingUnitCreate, correlation_id: str | None
) -> str:
    authorise_corporation(principal, unit.corporation_id)
    check_in_region(context, unit.municipality)
    async with context.unit_of_work(correlation_id=correlation_id) as uow:
        if not await repository.add_unit(uow.conn, unit):
            raise Problem(409, "Conflict", f"unit {unit.unit_id} was offered before", kind="unit-exists")
        envelope = await uow.emit(HousingUnitOffered(**unit.model_dump()))
        await uow.audit(
            actor=principal.name, on_behalf_of=principal.organisation, action="housing.offer_unit", subject=unit.unit_id
        )
    return str(envelope.event_id)


async def set_contingent(
    context: ServiceContext, principal: Principal, corporation_id: str, municipality: str, year: int, units: int
) -> ContingentPublic:
    authorise_corporation(principal, corporation_id)
    check_in_region(context, municipality)
    async with context.unit_of_work() as uow:
        try:
            row = await repository.set_contingent(uow.conn, corporation_id, municipality, year, units)
        except asyncpg.CheckViolationError as error:
            raise Problem(
                409, "Conflict", "the quota cannot drop below the homes already used", kind="contingent-below-use"
            ) from error
        await uow.audit(
            actor=principal.name,
            on_behalf_of=principal.organisation,
            action="housing.set_contingent",
            subject=f"{corporation_id}/{municipality}/{year}={units}",
        )
    return ContingentPublic(**dict(row))


async def on_outflow_readiness_assessed(uow: UnitOfWork, envelope: Envelope, event: OutflowReadinessAssessed) -> None:
    if event.ready:
        await repository.mark_ready(
            uow.conn, event.client_ref, event.placement_id, event.responsible_municipality, event.assessed_on
        )
    else:
        await repository.unmark_ready(uow.conn, event.client_ref)
