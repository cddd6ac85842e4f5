"""A placement (a client in a facility) and the events that record its start and end."""

from dataclasses import dataclass
from datetime import date

from zorgstroom_contracts.codes import EndReason, OutflowRefusalReason
from zorgstroom_contracts.events import (
    HousingOfferAccepted,
    OutflowCompleted,
    OutflowRefused,
    PlacementEnded,
    PlacementMade,
)
from zorgstroom_contracts.region import CareFormSpec
from zorgstroom_placement.domain.facilities import Facility


@dataclass(frozen=True)
class Placement:
    placement_id: str
    intake_id: str
    client_ref: str
    facility_id: str
    provider_agb: str
    responsible_municipality: str
    care_form: str
    start_date: date
    end_date: date | None
    ready: bool
    support_at_home: bool


def placement_made(
    placement: Placement, facility: Facility, care_form: CareFormSpec, waiting_since: date, doorstroom_from: str | None
) -> PlacementMade:
    return PlacementMade(
        placement_id=placement.placement_id,
        client_ref=placement.client_ref,
        facility_id=facility.facility_id,
        provider_agb=facility.provider_agb,
        facility_municipality=facility.municipality,
        wijk=facility.wijk,
        responsible_municipality=placement.responsible_municipality,
        care_form=placement.care_form,
        start_date=placement.start_date,
        waited_days=max(0, (placement.start_date - waiting_since).days),
        product_category=care_form.product_category,
        unit=care_form.unit,
        intake_id=placement.intake_id,
        doorstroom_from=doorstroom_from,
    )


def placement_ended(
    placement: Placement,
    reason: EndReason,
    end_date: date,
    *,
    doorstroom_to: str | None = None,
    next_placement_id: str | None = None,
) -> PlacementEnded:
    return PlacementEnded(
        placement_id=placement.placement_id,
        client_ref=placement.client_ref,
        facility_id=placement.facility_id,
        provider_agb=placement.provider_agb,
        responsible_municipality=placement.responsible_municipality,
        reason=reason,
        end_date=end_date,
        care_form=placement.care_form,
        intake_id=placement.intake_id,
        doorstroom_to=doorstroom_to,
        next_placement_id=next_placement_id,
    )


def for_provider(event: PlacementMade | OutflowCompleted) -> PlacementMade | OutflowCompleted:
    """The provider's copy of an event on its own topic: only what the provider needs (data minimisation).

    A provider bills and cares for the client in its facility: it needs who, where, from and until when,
    the product and the responsible municipality. It does not need how long the client waited, the intake
    behind the placement, or which home (unit, wijk) the client moved to when leaving.
    """
    if isinstance(event, PlacementMade):
        return event.model_copy(update={"waited_days": None, "intake_id": None})
    return event.model_copy(update={"unit_id": None, "wijk": None})


def outflow_refused(accepted: HousingOfferAccepted, placement: Placement | None) -> OutflowRefused:
    """Housing took the home before it could know that the placement had ended: the two raced, and only housing
    can take its decision back. So the answer is a refusal that housing acts on, not a dead letter. It is dated
    on the acceptance: the home was never let, so it is free again from that day."""
    reason = OutflowRefusalReason.NO_OPEN_PLACEMENT if placement is None else OutflowRefusalReason.PLACEMENT_ENDED
    return OutflowRefused(
        offer_id=accepted.offer_id,
        unit_id=accepted.unit_id,
        client_ref=accepted.client_ref,
        reason=reason,
        refused_on=accepted.answered_on,
        placement_id=accepted.placement_id,
        corporation_id=accepted.corporation_id,
        municipality=accepted.municipality,
    )
