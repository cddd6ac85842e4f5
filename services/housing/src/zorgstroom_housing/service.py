"""Housing's service layer: units and quotas from corporations, who is ready from events, offers made by
the rules (DOMAIN.md rule 6) and their answers. Functions run in the caller's unit of work and raise
application errors, never HTTP."""

import asyncio
import logging
from datetime import date, timedelta
from uuid import uuid4

import asyncpg

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.codes import OfferDeclineReason
from zorgstroom_contracts.events import (
    ClientRegistered,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferDeclined,
    HousingOfferMade,
    HousingUnitOffered,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_housing.adapters import repository
from zorgstroom_housing.adapters.repository import OfferRow
from zorgstroom_housing.domain.offers import Capacity, RoomsPolicy, match_units
from zorgstroom_housing.schemas import ContingentPublic, HousingUnitCreate, OfferDecline
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.db import TRANSIENT_DB_ERRORS
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound
from zorgstroom_runtime.outbox import UnitOfWork
from zorgstroom_runtime.region import Region

log = logging.getLogger(__name__)

# --- corporations: units and quotas --------------------------------------------------------------


def authorise_corporation(principal: Principal, corporation_id: str) -> None:
    principal.require(Role.HOUSING_WRITE)
    if principal.organisation_kind is not OrganisationKind.CORPORATION or principal.organisation_id != corporation_id:
        raise Forbidden("a corporation acts only for itself")


def check_in_region(region: Region, municipality: str) -> None:
    if not region.in_region(municipality):
        raise InvalidField("municipality", f"{municipality} is not in region {region.code}")


async def offer_unit(uow: UnitOfWork, principal: Principal, unit: HousingUnitCreate, today: date) -> tuple[str, bool]:
    """A corporation offers a unit for outflow. The same unit id with the same content answers as the first
    time (returns its event id and False); with other content it is a conflict."""
    authorise_corporation(principal, unit.corporation_id)
    check_in_region(uow.region, unit.municipality)
    existing = await repository.unit(uow.conn, unit.unit_id)
    if existing is not None:
        if existing["corporation_id"] != unit.corporation_id:
            raise Forbidden("a corporation acts only for itself")
        if {k: existing[k] for k in unit.model_dump()} != unit.model_dump():
            raise Conflict(f"unit {unit.unit_id} was offered before with other content", kind="unit-exists")
        return str(existing["event_id"]), False
    if unit.available_from < today:
        raise InvalidField("available_from", "a new unit cannot become available in the past")
    event = HousingUnitOffered(**unit.model_dump())
    envelope = await uow.emit(event)
    await repository.add_unit(uow.conn, unit, envelope.event_id)
    await uow.audit_as(principal, "housing.offer_unit", subject=unit.unit_id)
    await make_offers(uow, on=unit.available_from)
    return str(envelope.event_id), True


def _contingent(row: asyncpg.Record) -> ContingentPublic:
    return ContingentPublic(**dict(row), left=row["units"] - row["used"] - row["reserved"])


async def set_contingent(
    uow: UnitOfWork, principal: Principal, corporation_id: str, municipality: str, year: int, units: int
) -> ContingentPublic:
    authorise_corporation(principal, corporation_id)
    check_in_region(uow.region, municipality)
    await repository.lock_matching(uow.conn)  # the quota's use is settled by matchers holding this lock
    try:
        async with uow.conn.transaction():
            row = await repository.set_contingent(uow.conn, corporation_id, municipality, year, units)
    except asyncpg.CheckViolationError as error:
        raise Conflict(
            "the quota cannot drop below the homes already used or promised in open offers",
            kind="contingent-below-use",
        ) from error
    await uow.audit_as(principal, "housing.set_contingent", subject=f"{corporation_id}/{municipality}/{year}={units}")
    await uow.emit(
        HousingContingentAgreed(corporation_id=corporation_id, municipality=municipality, year=year, homes=units)
    )
    await make_offers(uow, on=date(year, 1, 1))
    return _contingent(await repository.contingent(uow.conn, corporation_id, municipality, year) or row)


# --- who is waiting for a home, from events ------------------------------------------------------


async def on_client_registered(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
    await repository.client_registered(uow.conn, event)


async def on_placement_made(uow: UnitOfWork, envelope: Envelope, event: PlacementMade) -> None:
    await repository.placement_made(uow.conn, event.client_ref, event.placement_id, event.responsible_municipality)


async def on_placement_ended(uow: UnitOfWork, envelope: Envelope, event: PlacementEnded) -> None:
    """A client who leaves the place (other than by accepting our offer) drops out, and an open offer to
    them is withdrawn so the unit goes to the next client."""
    await repository.placement_ended(uow.conn, event.client_ref, event.placement_id)
    if event.reason.value != "19":
        await repository.lock_matching(uow.conn)
        offer = await repository.open_offer_of(uow.conn, event.client_ref)
        if offer is not None:
            await _release(uow, offer, OfferDeclineReason.NOT_READY, event.end_date, status="declined")
            await make_offers(uow, on=event.end_date)


async def on_outflow_readiness_assessed(uow: UnitOfWork, envelope: Envelope, event: OutflowReadinessAssessed) -> None:
    if await repository.assessed(uow.conn, event):
        await make_offers(uow, on=event.assessed_on)


async def on_responsibility_transferred(uow: UnitOfWork, envelope: Envelope, event: ResponsibilityTransferred) -> None:
    await repository.transferred(uow.conn, event.client_ref, event.to_municipality)


# --- offers ----------------------------------------------------------------------------------------


async def make_offers(uow: UnitOfWork, *, on: date) -> list[HousingOfferMade]:
    """Offer every available unit that can go to a ready client now (DOMAIN.md rule 6). Matchers take
    turns; quotas and wijk caps are held again by the database's CHECKs."""
    await repository.lock_matching(uow.conn)
    units = await repository.available_units(uow.conn)
    if not units:
        return []
    clients = await repository.ready_clients(uow.conn)
    policy = uow.region.housing
    wijken = sorted({u.wijk for u in units})
    homes = await repository.wijk_homes(uow.conn, wijken)
    capacity = Capacity(
        quota_left=await repository.quota_left(uow.conn),
        wijk_left={w: policy.wijk_outflow_cap(w) - homes.get(w, 0) for w in wijken},
        default_wijk_left=policy.wijk_outflow_cap_default,
    )
    rooms = RoomsPolicy(policy.rooms_by_household_size)
    offers, refusals = match_units(units, clients, capacity, rooms, on)
    await repository.set_waiting_reasons(uow.conn, {unit_id: reason.value for unit_id, reason in refusals.items()})
    made = []
    for offer in offers:
        unit, client = offer.unit, offer.client
        offered_on = max(on, unit.available_from, client.ready_since)
        row = OfferRow(
            offer_id=uuid4().hex,
            unit_id=unit.unit_id,
            corporation_id=unit.corporation_id,
            client_ref=client.client_ref,
            municipality=unit.municipality,
            wijk=unit.wijk,
            responsible_municipality=client.responsible_municipality,
            quota_year=offer.quota_year,
            household_size=client.adults + client.children,
            rooms_needed=rooms.rooms_needed(client.adults, client.children),
            support_at_home=await repository.client_support(uow.conn, client.client_ref),
            offered_on=offered_on,
            answer_by=offered_on + timedelta(days=policy.offer_answer_days),
        )
        await repository.add_offer(uow.conn, row, policy.wijk_outflow_cap(unit.wijk))
        event = HousingOfferMade(
            offer_id=row.offer_id,
            unit_id=row.unit_id,
            corporation_id=row.corporation_id,
            client_ref=row.client_ref,
            municipality=row.municipality,
            offered_on=row.offered_on,
            wijk=row.wijk,
            responsible_municipality=row.responsible_municipality,
            quota_year=row.quota_year,
            answer_by=row.answer_by,
        )
        await uow.emit(event)
        made.append(event)
    return made


async def _open_offer_of_corporation(uow: UnitOfWork, principal: Principal, offer_id: str) -> OfferRow:
    principal.require(Role.HOUSING_WRITE)
    await repository.lock_matching(uow.conn)
    offer = await repository.offer_for_update(uow.conn, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} is not known")
    authorise_corporation(principal, offer.corporation_id)
    if offer.status != "open":
        raise Conflict(f"offer {offer_id} is {offer.status} already", kind="offer-answered", offer_status=offer.status)
    return offer


async def accept(uow: UnitOfWork, principal: Principal, offer_id: str, on: date) -> OfferRow:
    """The client accepts (the corporation answers on their behalf): one quota unit used; placement then
    completes the outflow."""
    offer = await _open_offer_of_corporation(uow, principal, offer_id)
    on = max(on, offer.offered_on)
    await repository.accept_offer(uow.conn, offer, on)
    await uow.emit(
        HousingOfferAccepted(
            offer_id=offer.offer_id,
            unit_id=offer.unit_id,
            client_ref=offer.client_ref,
            answered_on=on,
            corporation_id=offer.corporation_id,
            municipality=offer.municipality,
            wijk=offer.wijk,
        )
    )
    await uow.audit_as(principal, "housing.offer_accepted", client_ref=offer.client_ref, subject=offer_id)
    return await _answered(uow, offer_id)


async def decline(uow: UnitOfWork, principal: Principal, offer_id: str, body: OfferDecline, today: date) -> OfferRow:
    """A declined unit goes to the next client; the client stays ready for another unit."""
    offer = await _open_offer_of_corporation(uow, principal, offer_id)
    on = max(body.answered_on or today, offer.offered_on)
    await _release(uow, offer, OfferDeclineReason(body.reason), on, status="declined")
    await uow.audit_as(
        principal, "housing.offer_declined", client_ref=offer.client_ref, subject=f"{offer_id} reason={body.reason}"
    )
    await make_offers(uow, on=on)
    return await _answered(uow, offer_id)


async def _answered(uow: UnitOfWork, offer_id: str) -> OfferRow:
    offer = await repository.offer_for_update(uow.conn, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} is not known")
    return offer


async def _release(uow: UnitOfWork, offer: OfferRow, reason: OfferDeclineReason, on: date, *, status: str) -> None:
    await repository.release_offer(uow.conn, offer, status, reason.value, on)
    await uow.emit(
        HousingOfferDeclined(
            offer_id=offer.offer_id,
            unit_id=offer.unit_id,
            client_ref=offer.client_ref,
            answered_on=on,
            reason=reason,
            corporation_id=offer.corporation_id,
            municipality=offer.municipality,
        )
    )


async def lapse_due_offers(uow: UnitOfWork, after: timedelta) -> int:
    """Offers unanswered for `after` lapse and count as declined (`lapsed`), dated on their answer-by day."""
    await repository.lock_matching(uow.conn)
    due = await repository.lapsing_offers(uow.conn, after)
    for offer in due:
        await _release(uow, offer, OfferDeclineReason.LAPSED, offer.answer_by, status="lapsed")
    if due:
        await make_offers(uow, on=max(o.answer_by for o in due))
    return len(due)


async def lapse_offers_job(context: ServiceContext) -> None:
    """The scheduler: state lives in the offers table (created_at), so a restart loses no deadline."""
    policy = context.region.housing
    seconds = context.settings.offer_lapse_after_seconds
    after = timedelta(seconds=seconds) if seconds is not None else timedelta(days=policy.offer_answer_days)
    interval = min(5.0, max(0.2, after.total_seconds() / 4))
    while True:
        try:
            async with context.unit_of_work() as uow:
                await lapse_due_offers(uow, after)
        except TRANSIENT_DB_ERRORS as error:
            log.warning("lapsing offers paused: %r", error)
        except Exception:
            log.exception("lapsing offers failed; trying again")
        await asyncio.sleep(interval)


# --- a corporation's own view --------------------------------------------------------------------


async def corporation_offers(uow: UnitOfWork, principal: Principal, corporation_id: str) -> list[OfferRow]:
    authorise_corporation(principal, corporation_id)
    return await repository.corporation_offers(uow.conn, corporation_id)


async def corporation_contingents(uow: UnitOfWork, principal: Principal, corporation_id: str) -> list[ContingentPublic]:
    authorise_corporation(principal, corporation_id)
    return [_contingent(r) for r in await repository.corporation_contingents(uow.conn, corporation_id)]


async def corporation_units(uow: UnitOfWork, principal: Principal, corporation_id: str) -> list[asyncpg.Record]:
    authorise_corporation(principal, corporation_id)
    return await repository.corporation_units(uow.conn, corporation_id)
