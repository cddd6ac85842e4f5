"""Offers (docs/domain.md, "A home"): made by the rules whenever a unit or a client becomes free,
answered by the client through the corporation, withdrawn when the client leaves the place, lapsed when
unanswered. Matchers take turns, so the quotas and wijk homes they count stay as counted."""

from datetime import date, timedelta
from uuid import uuid4

from zorgstroom_contracts.codes import OfferDeclineReason
from zorgstroom_contracts.events import HousingOfferAccepted, HousingOfferDeclined, HousingOfferMade, OutflowRefused
from zorgstroom_contracts.region import HousingPolicy, Region
from zorgstroom_housing.domain.clients import acceptance_voided
from zorgstroom_housing.domain.model import HousingClient, OfferRow, OfferStatus, UnitStatus
from zorgstroom_housing.domain.offers import (
    Capacity,
    Offer,
    Refusal,
    available_by,
    match_units,
    matching_day,
    ready_by,
    unit_day,
)
from zorgstroom_housing.domain.wijk_cap import counted_since
from zorgstroom_housing.ports import HousingUnitOfWork, UnitsOfWork
from zorgstroom_housing.service_layer.access import authorise_corporation, check_answered_on
from zorgstroom_runtime.auth import Principal, Role
from zorgstroom_runtime.errors import Conflict, NotFound


async def make_offers(
    uow: HousingUnitOfWork, policy: HousingPolicy, *, on: date, today: date
) -> list[HousingOfferMade]:
    """Offer every available unit that can go to a ready client now: from `on` (the day something happened),
    never dated after today. A unit or a client whose day lies ahead waits for a later pass."""
    await uow.take_matching_turn()
    listed = await uow.units.available()
    units = [u for u in listed if available_by(u, today)]
    later = {u.unit_id: Refusal.NOT_YET_AVAILABLE for u in listed if not available_by(u, today)}
    if not units:
        await uow.units.set_waiting_reasons(later)
        return []
    day = matching_day(on, today)
    clients = [c for c in await uow.clients.ready() if ready_by(c, today)]
    let_since = counted_since((unit_day(day, u) for u in units), policy.wijk_outflow_window_months)
    homes = await uow.wijk_homes.counted(sorted({u.wijk for u in units}), let_since)
    offers, refusals = match_units(units, clients, Capacity(await uow.contingents.left(), homes), policy, day)
    await uow.units.set_waiting_reasons(refusals | later)
    return [await _keep(uow, policy, offer) for offer in offers]


async def offer_what_came_free(units: UnitsOfWork, policy: HousingPolicy, today: date) -> int:
    """The day's pass: units announced ahead whose day has come (and transfers taking effect today) may now
    be offered. Returns the number of offers made."""
    async with units() as uow:
        return len(await make_offers(uow, policy, on=today, today=today))


async def _keep(uow: HousingUnitOfWork, policy: HousingPolicy, offer: Offer) -> HousingOfferMade:
    """The offer, its unit off the market and a quota unit held, and the event."""
    unit, client = offer.unit, offer.client
    known = await uow.clients.get(client.client_ref) or HousingClient(client.client_ref)
    row = OfferRow(
        offer_id=uuid4().hex,
        unit_id=unit.unit_id,
        corporation_id=unit.corporation_id,
        client_ref=client.client_ref,
        municipality=unit.municipality,
        wijk=unit.wijk,
        responsible_municipality=client.responsible_on(offer.offered_on),
        quota_year=offer.quota_year,
        household_size=client.adults + client.children,
        rooms_needed=policy.rooms_needed(client.adults, client.children),
        support_at_home=known.support_at_home,
        offered_on=offer.offered_on,
        answer_by=offer.offered_on + timedelta(days=policy.offer_answer_days),
        placement_id=known.placement_id,
    )
    await uow.offers.add(row)
    await uow.units.set_status(row.unit_id, UnitStatus.OFFERED)
    await uow.contingents.hold(row.quota_key)
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
        placement_id=row.placement_id,
    )
    await uow.emit(event)
    return event


async def release(uow: HousingUnitOfWork, offer: OfferRow, reason: OfferDeclineReason, on: date) -> None:
    """A declined, withdrawn or lapsed offer gives the unit and the quota unit back (and the wijk its slot)."""
    status = OfferStatus.LAPSED if reason is OfferDeclineReason.LAPSED else OfferStatus.DECLINED
    await uow.offers.answer(offer.offer_id, status, on, reason.value)
    await uow.units.set_status(offer.unit_id, UnitStatus.AVAILABLE)
    await uow.contingents.release(offer.quota_key)
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


async def _open_offer_of_corporation(uow: HousingUnitOfWork, principal: Principal, offer_id: str) -> OfferRow:
    principal.require(Role.HOUSING_WRITE)
    await uow.take_matching_turn()
    offer = await uow.offers.get(offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} is not known")
    authorise_corporation(principal, offer.corporation_id)
    if offer.status is not OfferStatus.OPEN:
        raise Conflict(f"offer {offer_id} is {offer.status} already", kind="offer-answered", offer_status=offer.status)
    return offer


async def accept(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    offer_id: str,
    on: date,
    today: date,
    correlation_id: str | None = None,
) -> OfferRow:
    """The client accepts (the corporation answers on their behalf): the quota unit is used, the home is let
    (it holds its wijk's slot for the window from this day); placement then completes the outflow."""
    check_answered_on(region, on, today)
    async with units(correlation_id=correlation_id) as uow:
        offer = await _open_offer_of_corporation(uow, principal, offer_id)
        if offer.placement_id is not None and await uow.clients.placement_has_ended(offer.placement_id):
            # Housing knows already what placement would answer: the outflow cannot end a placement that ended.
            raise Conflict(f"the placement offer {offer_id} was made in has ended", kind="placement-ended")
        on = max(on, offer.offered_on)
        await uow.offers.answer(offer_id, OfferStatus.ACCEPTED, on)
        await uow.units.set_status(offer.unit_id, UnitStatus.LET)
        await uow.contingents.use(offer.quota_key)
        client = await uow.clients.get(offer.client_ref)
        if client is not None:
            await uow.clients.save(client.housed(on))
        await uow.emit(
            HousingOfferAccepted(
                offer_id=offer.offer_id,
                unit_id=offer.unit_id,
                client_ref=offer.client_ref,
                answered_on=on,
                corporation_id=offer.corporation_id,
                municipality=offer.municipality,
                wijk=offer.wijk,
                placement_id=offer.placement_id,
            )
        )
        await uow.audit_as(principal, "housing.offer_accepted", client_ref=offer.client_ref, subject=offer_id)
        return await _answered(uow, offer_id)


async def void(uow: HousingUnitOfWork, policy: HousingPolicy, event: OutflowRefused, today: date) -> None:
    """Placement refused the outflow of an accepted offer (its placement had ended first): the home, its quota unit
    and its wijk slot come back, the client is no longer housed by it, and the unit goes to the next client. Only
    an accepted offer is voided, so a refusal delivered twice, or about an offer voided already, changes nothing.

    The refusal may overtake the ending on its way here (other topics): it tells already that the placement is
    no longer open, so it counts as its ending, and a late PlacementEnded, PlacementMade or assessment of that
    placement changes nothing. The home is offered again today, when housing learns it is free: an offer dated
    on the refused acceptance could be due for an answer already."""
    await uow.take_matching_turn()
    offer = await uow.offers.get(event.offer_id)
    if offer is None or offer.status is not OfferStatus.ACCEPTED:
        return
    await uow.offers.answer(offer.offer_id, OfferStatus.VOIDED, event.refused_on, event.reason.value)
    await uow.units.set_status(offer.unit_id, UnitStatus.AVAILABLE)
    await uow.contingents.give_back(offer.quota_key)
    if offer.placement_id is not None:
        await uow.clients.record_ending(offer.placement_id)
    client = await uow.clients.get(offer.client_ref)
    if client is not None:
        await uow.clients.save(acceptance_voided(client, offer))
    await make_offers(uow, policy, on=today, today=today)


async def decline(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    offer_id: str,
    reason: OfferDeclineReason,
    on: date,
    today: date,
    correlation_id: str | None = None,
) -> OfferRow:
    """A declined unit goes to the next client; the client stays ready for another unit."""
    check_answered_on(region, on, today)
    async with units(correlation_id=correlation_id) as uow:
        offer = await _open_offer_of_corporation(uow, principal, offer_id)
        on = max(on, offer.offered_on)
        await release(uow, offer, reason, on)
        await uow.audit_as(
            principal, "housing.offer_declined", client_ref=offer.client_ref, subject=f"{offer_id} reason={reason}"
        )
        await make_offers(uow, region.housing, on=on, today=today)
        return await _answered(uow, offer_id)


async def _answered(uow: HousingUnitOfWork, offer_id: str) -> OfferRow:
    offer = await uow.offers.get(offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} is not known")
    return offer


async def lapse_due_offers(units: UnitsOfWork, policy: HousingPolicy, after: timedelta, today: date) -> int:
    """Offers unanswered for `after` lapse and count as declined (`lapsed`), dated on their answer-by day, or
    today when that lies ahead (a demo lapses offers within seconds)."""
    async with units() as uow:
        await uow.take_matching_turn()
        due = await uow.offers.due(after)
        for offer in due:
            await release(uow, offer, OfferDeclineReason.LAPSED, min(offer.answer_by, today))
        if due:
            await make_offers(uow, policy, on=max(o.answer_by for o in due), today=today)
    return len(due)


async def corporation_offers(units: UnitsOfWork, principal: Principal, corporation_id: str) -> list[OfferRow]:
    authorise_corporation(principal, corporation_id)
    async with units() as uow:
        return await uow.offers.of_corporation(corporation_id)
