"""Giving free places to waiting clients (docs/domain.md, rules 3 and 10), doorstroom included."""

from collections.abc import Iterable
from datetime import date
from uuid import uuid4

from zorgstroom_contracts import Envelope, provider_topic
from zorgstroom_contracts.codes import EndReason
from zorgstroom_contracts.events import PlacementEnded, PlacementMade
from zorgstroom_contracts.region import Region
from zorgstroom_placement.domain.doorstroom import doorstroom_day, feeders, may_be_matched, turn_order
from zorgstroom_placement.domain.facilities import Facility
from zorgstroom_placement.domain.matching import match_waiting_clients
from zorgstroom_placement.domain.placements import Placement, for_provider, placement_ended, placement_made
from zorgstroom_placement.domain.waiting_list import WaitingClient, one_entry_per_client
from zorgstroom_placement.ports import PlacementUnitOfWork


async def place_waiting_clients(
    uow: PlacementUnitOfWork, region: Region, care_form: str, *, on: date
) -> list[PlacementMade]:
    """Give free places of one care form to waiting clients, `on` being the business date that freed or
    brought them. Matchers of a care form take turns, so none can overfill a place. A client in a place
    of another care form is matched only along an allowed doorstroom pair; the place they leave goes to
    the next waiting client of that care form."""
    await take_turns(uow, region, [care_form])
    facilities = {f.facility_id: f for f in await uow.facilities.with_free_places(care_form)}
    if not facilities:
        return []
    waiting = [c for c in await uow.waiting_list.to_place(care_form) if may_be_matched(c, region.placement)]
    made: list[PlacementMade] = []
    freed: dict[str, date] = {}
    for match in match_waiting_clients(one_entry_per_client(waiting), [f.places() for f in facilities.values()]):
        placed = await _place(uow, region, facilities[match.facility_id], match.client, on)
        if placed is None:
            continue
        event, left = placed
        made.append(event)
        if left is not None:
            freed[left.care_form] = min(freed.get(left.care_form, event.start_date), event.start_date)
    for other, day in sorted(freed.items()):
        made += await place_waiting_clients(uow, region, other, on=day)
    return made


async def take_turns(uow: PlacementUnitOfWork, region: Region, care_forms: Iterable[str]) -> None:
    """Take the matching turns of these care forms and of every care form a match of theirs may free
    (doorstroom), in the one order (domain/doorstroom.py, turn_order), before any row of theirs is locked.
    A unit of work that takes its turns this way, before any other, cannot deadlock with a matcher."""
    needed: set[str] = set()
    for care_form in care_forms:
        needed |= feeders(region.placement, care_form)
    for care_form in turn_order(region.placement, needed):
        await uow.facilities.take_turn(care_form)


async def _place(
    uow: PlacementUnitOfWork, region: Region, facility: Facility, client: WaitingClient, on: date
) -> tuple[PlacementMade, Placement | None] | None:
    """One client into one facility; a client in a place moves on the same day (doorstroom). None when the
    registration is no longer waiting (withdrawn or placed since it was read): nothing is written."""
    placement_id = uuid4().hex
    if not await uow.waiting_list.mark_placed(client.intake_id, placement_id):
        return None
    current = await uow.placements.open_of_client(client.client_ref) if client.in_place_of else None
    start = doorstroom_day(client.waiting_since, on, current.start_date if current else None)
    placement = Placement(
        placement_id=placement_id,
        intake_id=client.intake_id,
        client_ref=client.client_ref,
        facility_id=facility.facility_id,
        provider_agb=facility.provider_agb,
        responsible_municipality=client.responsible_municipality,
        care_form=facility.care_form,
        start_date=start,
        end_date=None,
        ready=False,
        support_at_home=False,
    )
    if current is not None:  # the open placement ends first: a client holds one place at a time
        await end_placement(
            uow,
            current,
            EndReason.CHANGE_REQUEST,
            start,
            doorstroom_to=placement.care_form,
            next_placement_id=placement.placement_id,
        )
    await uow.placements.add(placement, doorstroom_from=current.placement_id if current else None)
    await uow.facilities.occupy(facility.facility_id, 1)
    event = placement_made(
        placement,
        facility,
        region.care_form(facility.care_form),
        client.waiting_since,
        current.placement_id if current else None,
    )
    await uow.emit(event, also_to=[provider_topic(facility.provider_agb)], copy=for_provider(event))
    return event, current


async def end_placement(
    uow: PlacementUnitOfWork,
    placement: Placement,
    reason: EndReason,
    end_date: date,
    *,
    doorstroom_to: str | None = None,
    next_placement_id: str | None = None,
) -> tuple[PlacementEnded, Envelope]:
    """End a placement and free its place; the caller gives the place to the next waiting client."""
    await uow.facilities.take_turn(placement.care_form)  # before the facility row: one lock order
    await uow.placements.end(placement.placement_id, reason.value, end_date)
    await uow.facilities.occupy(placement.facility_id, -1)
    event = placement_ended(
        placement, reason, end_date, doorstroom_to=doorstroom_to, next_placement_id=next_placement_id
    )
    return event, await uow.emit(event, also_to=[provider_topic(placement.provider_agb)])
