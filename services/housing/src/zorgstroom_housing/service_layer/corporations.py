"""What a corporation does: offer units for outflow, agree its quotas, and see its own units and quotas."""

from datetime import date

from zorgstroom_contracts.events import HousingContingentAgreed, HousingUnitOffered
from zorgstroom_contracts.region import Region
from zorgstroom_housing.domain.errors import ContingentBelowUse
from zorgstroom_housing.domain.model import Contingent, HousingUnit
from zorgstroom_housing.ports import UnitsOfWork
from zorgstroom_housing.schemas import HousingUnitCreate
from zorgstroom_housing.service_layer.access import authorise_corporation, check_in_region
from zorgstroom_housing.service_layer.offers import make_offers
from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField


async def offer_unit(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    created: HousingUnitCreate,
    today: date,
    correlation_id: str | None = None,
) -> tuple[str, bool]:
    """A corporation offers a unit for outflow. The same unit id with the same content answers as the first
    time (returns its event id and False); with other content it is a conflict."""
    authorise_corporation(principal, created.corporation_id)
    check_in_region(region, created.municipality)
    unit = HousingUnit(**created.model_dump())
    async with units(correlation_id=correlation_id) as uow:
        existing = await uow.units.get(unit.unit_id)
        if existing is not None:
            if existing.corporation_id != unit.corporation_id:
                raise Forbidden("a corporation acts only for itself")
            if existing.content() != unit.content():
                raise Conflict(f"unit {unit.unit_id} was offered before with other content", kind="unit-exists")
            return str(existing.event_id), False
        earliest = region.dates.earliest_allowed(today)  # a home may be announced ahead, or recorded late
        if unit.available_from < earliest:
            raise InvalidField("available_from", f"a home recorded now came free on {earliest} or later")
        envelope = await uow.emit(HousingUnitOffered(**created.model_dump()))
        await uow.units.add(HousingUnit(**created.model_dump(), event_id=envelope.event_id))
        await uow.audit_as(principal, "housing.offer_unit", subject=unit.unit_id)
        await make_offers(uow, region.housing, on=unit.available_from, today=today)
    return str(envelope.event_id), True


async def set_contingent(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    key: tuple[str, str, int],
    homes: int,
    today: date,
    correlation_id: str | None = None,
) -> Contingent:
    """The number of outflow homes a corporation agrees to for a municipality and year. It cannot drop below
    the homes used or promised; raising it may let waiting units be offered at once (a quota of a later year
    is used from its first day, by a later pass). The number agreed already changes nothing and emits nothing."""
    corporation_id, municipality, year = key
    authorise_corporation(principal, corporation_id)
    check_in_region(region, municipality)
    async with units(correlation_id=correlation_id) as uow:
        await uow.take_matching_turn()  # the quota's use is settled by matchers taking turns
        before = await uow.contingents.get(key)
        if before is not None and before.units == homes:  # agreed already: a repeated PUT changes nothing
            return before
        try:
            agreed = await uow.contingents.agree(corporation_id, municipality, year, homes)
        except ContingentBelowUse as refusal:
            raise Conflict(
                "the quota cannot drop below the homes already used or promised in open offers",
                kind="contingent-below-use",
            ) from refusal
        subject = f"{corporation_id}/{municipality}/{year}={homes}"
        await uow.audit_as(principal, "housing.set_contingent", subject=subject)
        await uow.emit(
            HousingContingentAgreed(
                corporation_id=corporation_id, municipality=municipality, year=year, homes=homes, version=agreed.version
            )
        )
        await make_offers(uow, region.housing, on=date(year, 1, 1), today=today)
        return await uow.contingents.get(key) or agreed


async def corporation_contingents(units: UnitsOfWork, principal: Principal, corporation_id: str) -> list[Contingent]:
    authorise_corporation(principal, corporation_id)
    async with units() as uow:
        return await uow.contingents.of_corporation(corporation_id)


async def corporation_units(units: UnitsOfWork, principal: Principal, corporation_id: str) -> list[HousingUnit]:
    authorise_corporation(principal, corporation_id)
    async with units() as uow:
        return await uow.units.of_corporation(corporation_id)
