"""Facilities and their places (docs/domain.md, rules 3 and 4): registered or changed by region staff or
their own provider, never over the wijk's cap on places nor below the places in use."""

from dataclasses import replace
from datetime import date

from zorgstroom_contracts.events import FacilityRegistered
from zorgstroom_contracts.region import Region
from zorgstroom_placement.domain.facilities import Facility, WijkCapExceeded, site_problem, wijk_place_changes
from zorgstroom_placement.ports import PlacementUnitOfWork, UnitsOfWork
from zorgstroom_placement.schemas import FacilityPut
from zorgstroom_placement.service_layer.access import is_provider, is_region_staff
from zorgstroom_placement.service_layer.matching import place_waiting_clients, take_turns
from zorgstroom_placement.service_layer.transfers import apply_due_transfers
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField

# Who reads the list of facilities: whoever registers them (region staff, providers) and whoever plans with
# them (the region's and the municipalities' reports). Not a corporation, not an operator's credential.
FACILITY_READERS = frozenset({Role.FACILITIES_WRITE, Role.REPORTS_REGION, Role.REPORTS_OWN})


def _authorise(principal: Principal, region: Region, provider_agb: str, existing: Facility | None) -> None:
    principal.require(Role.FACILITIES_WRITE)
    if is_region_staff(principal, region):
        return
    if principal.organisation_kind is not OrganisationKind.PROVIDER:
        raise Forbidden(f"facilities are registered by staff of region {region.code} or by their own provider")
    owners = {provider_agb} | ({existing.provider_agb} if existing else set())
    if owners != {principal.organisation_id}:
        raise Forbidden("a provider registers and changes only its own facilities")


def _check(region: Region, body: FacilityPut) -> None:
    if not region.in_region(body.municipality):
        raise InvalidField("municipality", f"{body.municipality} is not in region {region.code}")
    if not region.has_care_form(body.care_form):
        raise InvalidField("care_form", f"{body.care_form} is not a care form of region {region.code}")
    problem = site_problem(region.care_form(body.care_form), body.municipality, body.wijk)
    if problem is not None:
        raise InvalidField("wijk", problem)


async def put_facility(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    facility_id: str,
    body: FacilityPut,
    today: date,
    correlation_id: str | None = None,
) -> tuple[Facility, bool]:
    """Register or change a facility; returns it and whether it is new. Refuses (409) a capacity below
    the places in use or over the wijk's cap on places (rule 4, held by the database)."""
    _check(region, body)
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)
        existing = await uow.facilities.get(facility_id)  # no row lock yet: matching's turn comes first
        _authorise(principal, region, body.provider_agb, existing)
        # The matchers' order (targets before sources, and every care form a match may free), not by name.
        await take_turns(uow, region, {body.care_form} | ({existing.care_form} if existing else set()))
        existing = await uow.facilities.get_for_update(facility_id)  # as it is now that we hold the turn
        facility = _changed(facility_id, existing, body)
        if existing == facility:
            return facility, False
        await _move_wijk_places(uow, region, existing, facility)
        facility = replace(facility, version=await uow.facilities.save(facility))
        await uow.emit(FacilityRegistered(facility_id=facility_id, version=facility.version, **body.model_dump()))
        await uow.audit_as(principal, "facility.put", subject=facility_id)
        if existing is None or facility.free_places > existing.free_places or existing.care_form != facility.care_form:
            await place_waiting_clients(uow, region, facility.care_form, on=today)
    return facility, existing is None


def _changed(facility_id: str, existing: Facility | None, body: FacilityPut) -> Facility:
    occupied = existing.occupied if existing else 0
    if existing and occupied and existing.care_form != body.care_form:
        raise Conflict(f"facility {facility_id} has clients in place; its care form cannot change", kind="in-use")
    if body.capacity < occupied:
        raise Conflict(
            f"facility {facility_id} has {occupied} clients in place; capacity cannot drop below that",
            kind="capacity-below-occupancy",
            occupied=occupied,
        )
    return Facility(facility_id=facility_id, occupied=occupied, **body.model_dump())


async def _move_wijk_places(uow: PlacementUnitOfWork, region: Region, old: Facility | None, new: Facility) -> None:
    for wijk, delta in wijk_place_changes(old, new).items():
        cap = region.placement.wijk_place_cap(wijk)
        try:
            await uow.facilities.add_wijk_places(wijk, delta, cap)
        except WijkCapExceeded as refused:
            raise Conflict(str(refused), kind="wijk-cap-exceeded", wijk=wijk, cap=cap) from refused


def sees_occupancy(principal: Principal, region: Region, facility: Facility) -> bool:
    """Occupancy of one facility is for this region's staff and its own provider (docs/providers.md): to anyone
    else, a municipality or another provider, a count of a few clients in one place could single them out."""
    return is_region_staff(principal, region) or is_provider(principal, facility.provider_agb)


async def list_facilities(
    units: UnitsOfWork, region: Region, principal: Principal, care_form: str | None, municipality: str | None
) -> list[Facility]:
    """Whoever registers facilities (this region's staff, providers) and whoever plans with them (the region's
    and the municipalities' reports) reads them; staff of another region do not, whatever their roles."""
    if not principal.roles & FACILITY_READERS:
        raise Forbidden(f"credential {principal.name!r} holds none of the roles that read facilities")
    if principal.organisation_kind is OrganisationKind.REGION and not is_region_staff(principal, region):
        raise Forbidden(f"credential {principal.name!r} is not staff of region {region.code}")
    async with units() as uow:
        return await uow.facilities.find(care_form, municipality)
