"""Placements after the match: the provider's assessments (docs/domain.md, rule 5), endings, outflow on an
accepted offer (rule 7), and a provider's own placements."""

from dataclasses import replace
from datetime import date

from zorgstroom_contracts import Envelope, provider_topic
from zorgstroom_contracts.codes import EndReason, ZrmDomain
from zorgstroom_contracts.events import (
    HousingOfferAccepted,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
)
from zorgstroom_contracts.region import Region
from zorgstroom_placement.domain.placements import Placement, for_provider, outflow_refused
from zorgstroom_placement.domain.readiness import needs_support_at_home, outflow_ready
from zorgstroom_placement.ports import PlacementUnitOfWork, UnitsOfWork
from zorgstroom_placement.schemas import AssessmentCreate, PlacementEnd
from zorgstroom_placement.service_layer.access import check_not_ahead, is_municipality, is_provider
from zorgstroom_placement.service_layer.matching import end_placement, place_waiting_clients, take_turns
from zorgstroom_placement.service_layer.transfers import apply_due_transfers
from zorgstroom_placement.service_layer.waiting_list import withdraw_after_outflow
from zorgstroom_runtime.auth import Principal, Role
from zorgstroom_runtime.errors import Conflict, Forbidden, InvalidField, NotFound


class NoPlaceToLeave(Exception):
    """An accepted offer names no municipality, or another client's placement: the event is invalid."""


async def _placement(uow: PlacementUnitOfWork, placement_id: str) -> Placement:
    placement = await uow.placements.get_for_update(placement_id)
    if placement is None:
        raise NotFound(f"placement {placement_id} is not known")
    return placement


def _still_open(placement: Placement) -> None:
    if placement.end_date is not None:
        raise Conflict(f"placement {placement.placement_id} ended on {placement.end_date}", kind="placement-ended")


def _zrm(scores: dict[str, int] | None) -> dict[ZrmDomain, int] | None:
    return None if scores is None else {ZrmDomain(k): v for k, v in scores.items()}


async def assess(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    placement_id: str,
    body: AssessmentCreate,
    today: date,
    correlation_id: str | None = None,
) -> tuple[OutflowReadinessAssessed, Envelope]:
    """The provider's ZRM scores and the client's own voice; readiness by the region's policy."""
    principal.require(Role.PLACEMENTS_WRITE)
    for i, code in enumerate(body.preferred_municipalities or []):
        if not region.known(code):
            raise InvalidField(f"preferred_municipalities.{i}", f"{code} is not a CBS municipality code")
    scores = _zrm(body.scores) or {}
    ready = outflow_ready(scores, body.client_wants_to_move, region.placement)
    support = needs_support_at_home(scores, region.placement)
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)  # the event names who is responsible today
        placement = await _placement(uow, placement_id)
        if not is_provider(principal, placement.provider_agb):
            raise Forbidden("only the provider of a placement assesses it")
        _still_open(placement)
        if body.assessed_on < placement.start_date:
            raise InvalidField("assessed_on", "an assessment cannot predate the placement")
        await uow.placements.record_assessment(
            placement_id, body.assessed_on, body.scores, body.client_scores, body.client_wants_to_move, ready, support
        )
        if body.preferred_municipalities is not None:
            await uow.waiting_list.set_preferences(placement.client_ref, body.preferred_municipalities)
        event = OutflowReadinessAssessed(
            placement_id=placement_id,
            client_ref=placement.client_ref,
            provider_agb=placement.provider_agb,
            responsible_municipality=placement.responsible_municipality,
            assessed_on=body.assessed_on,
            ready=ready,
            preferred_municipalities=body.preferred_municipalities,
            support_at_home=support,
        )
        envelope = await uow.emit(event, also_to=[provider_topic(placement.provider_agb)])
        await uow.audit_as(principal, "placement.assess", client_ref=placement.client_ref, subject=placement_id)
    return event, envelope


async def end(
    units: UnitsOfWork,
    region: Region,
    principal: Principal,
    placement_id: str,
    body: PlacementEnd,
    today: date,
    correlation_id: str | None = None,
) -> tuple[PlacementEnded, Envelope]:
    """End a placement with a WMO588 reason (its provider or the responsible municipality); the freed place
    goes to the next waiting client."""
    principal.require(Role.PLACEMENTS_WRITE)
    check_not_ahead("end_date", body.end_date, today, region)
    async with units(correlation_id=correlation_id) as uow:
        await apply_due_transfers(uow, region, today)
        unlocked = await uow.placements.get(placement_id)
        if unlocked is not None:  # the matchers' order: their turns before the placement's row
            await take_turns(uow, region, [unlocked.care_form])
        placement = await _placement(uow, placement_id)
        if not (
            is_provider(principal, placement.provider_agb)
            or is_municipality(principal, placement.responsible_municipality)
        ):
            raise Forbidden("a placement is ended by its provider or by the responsible municipality")
        _still_open(placement)
        if body.end_date < placement.start_date:
            raise InvalidField("end_date", f"the placement started on {placement.start_date}")
        event, envelope = await end_placement(uow, placement, body.reason, body.end_date)
        await uow.audit_as(
            principal,
            "placement.end",
            client_ref=placement.client_ref,
            subject=f"{placement_id} reason={body.reason.value}",
        )
        await place_waiting_clients(uow, region, placement.care_form, on=body.end_date)
    return event, envelope


async def complete_outflow(
    uow: PlacementUnitOfWork, region: Region, event: HousingOfferAccepted, today: date
) -> Placement | None:
    """Outflow (docs/domain.md, rule 7): the placement the offer was made in ends with 19 and OutflowCompleted
    records the move; the client's registrations still waiting are withdrawn (other_solution). Returns the
    placement as it ended; its place goes to the next client by `give_freed_place`. When that placement is no
    longer open (its ending raced the acceptance), OutflowRefused tells housing to take the home back, and
    None is returned: nothing ended here."""
    if event.municipality is None:
        raise NoPlaceToLeave(f"offer {event.offer_id} names no municipality for the new home")
    await apply_due_transfers(uow, region, today)  # the outflow names who is responsible today
    # The matchers' turns before the client's rows, in their order: a matcher may be moving this client on.
    await take_turns(uow, region, await uow.waiting_list.care_forms_of(event.client_ref))
    placement = await _placement_left(uow, event)
    if placement is None or placement.end_date is not None:  # its ending came first
        await uow.emit(outflow_refused(event, placement))
        return None
    outflow_date = max(event.answered_on, placement.start_date)
    await end_placement(uow, placement, EndReason.ENDED_AS_PLANNED, outflow_date)
    await withdraw_after_outflow(uow, placement.client_ref, outflow_date)
    completed = OutflowCompleted(
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
    )
    await uow.emit(completed, also_to=[provider_topic(placement.provider_agb)], copy=for_provider(completed))
    return replace(placement, end_date=outflow_date)


async def _placement_left(uow: PlacementUnitOfWork, event: HousingOfferAccepted) -> Placement | None:
    """The placement an acceptance ends: the one it names, else (older events) the client's open one."""
    if event.placement_id is None:
        return await uow.placements.open_of_client(event.client_ref)
    placement = await uow.placements.get_for_update(event.placement_id)
    if placement is not None and placement.client_ref != event.client_ref:
        raise NoPlaceToLeave(f"offer {event.offer_id} names placement {event.placement_id} of another client")
    return placement


async def give_freed_place(uow: PlacementUnitOfWork, region: Region, ended: Placement) -> None:
    """The place an ended placement freed goes to the next waiting client of its care form, from that day."""
    await place_waiting_clients(uow, region, ended.care_form, on=ended.end_date or date.today())


async def provider_placements(
    units: UnitsOfWork, region: Region, principal: Principal, provider_agb: str, today: date
) -> list[Placement]:
    """A provider's open placements, to reconcile with its own topic: its own clients only."""
    principal.require(Role.PLACEMENTS_WRITE)
    if not is_provider(principal, provider_agb):
        raise Forbidden("a provider reads only its own placements")
    async with units() as uow:
        await apply_due_transfers(uow, region, today)
        placements = await uow.placements.open_of_provider(provider_agb)
        await uow.audit_as(principal, "placements.read", subject=provider_agb)
    return placements
