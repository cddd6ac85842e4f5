"""What each event means for reporting's tables, as rows: pure functions, no database.

Reporting's projections are fact tables written by upserts, so they end in the same rows whatever
order the topics deliver their events in (an ending before its placement, an answer before its
offer, an outflow before its assessment). A batch of events is first folded here into at most one
row per table and key, with the same rule the upsert applies, so that one statement per table can
write the whole batch (`writer.py`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import (
    ClientRegistered,
    Event,
    FacilityRegistered,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferDeclined,
    HousingOfferMade,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)

Row = tuple[Any, ...]


@dataclass
class Rows:
    """One batch's rows, per table and kind of fact, keyed so that each key occurs once per statement."""

    registrations: dict[str, Row] = field(default_factory=dict)  # first wins (DO NOTHING)
    placements_started: dict[str, Row] = field(default_factory=dict)  # last wins (DO UPDATE)
    placements_ended: dict[str, Row] = field(default_factory=dict)  # last wins
    outflows: dict[str, Row] = field(default_factory=dict)  # first wins
    assessments: dict[UUID, Row] = field(default_factory=dict)  # one per event
    transfers: dict[UUID, Row] = field(default_factory=dict)  # one per event
    facilities: dict[str, Row] = field(default_factory=dict)  # newest occurred_at wins
    offers_made: dict[str, Row] = field(default_factory=dict)  # last wins
    offers_answered: dict[str, Row] = field(default_factory=dict)  # last wins
    contingents: dict[tuple[str, str, int], Row] = field(default_factory=dict)  # newest occurred_at wins
    positions: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # events applied, newest

    def advance(self, projection: str, envelope: Envelope) -> None:
        count, newest = self.positions.get(projection, (0, envelope.occurred_at))
        self.positions[projection] = (count + 1, max(newest, envelope.occurred_at))


def client_registered(rows: Rows, envelope: Envelope, event: ClientRegistered) -> None:
    rows.registrations.setdefault(
        event.intake_id,
        (
            event.intake_id,
            event.client_ref,
            event.registering_municipality,
            event.responsible_municipality,
            event.care_form.value,
            event.registered_on,
            envelope.event_id,
            envelope.occurred_at,
        ),
    )
    rows.advance("flows", envelope)


def placement_made(rows: Rows, envelope: Envelope, event: PlacementMade) -> None:
    rows.placements_started[event.placement_id] = (
        event.placement_id,
        event.intake_id,
        event.client_ref,
        event.responsible_municipality,
        event.facility_id,
        event.facility_municipality,
        event.wijk,
        event.care_form.value,
        event.start_date,
        event.waited_days,
    )
    rows.advance("flows", envelope)


def placement_ended(rows: Rows, envelope: Envelope, event: PlacementEnded) -> None:
    rows.placements_ended[event.placement_id] = (
        event.placement_id,
        event.client_ref,
        event.responsible_municipality,
        event.facility_id,
        event.end_date,
        event.reason.value,
    )
    rows.advance("flows", envelope)


def outflow_completed(rows: Rows, envelope: Envelope, event: OutflowCompleted) -> None:
    rows.outflows.setdefault(
        event.placement_id,
        (
            event.placement_id,
            event.client_ref,
            event.responsible_municipality,
            event.municipality,
            event.wijk,
            event.outflow_date,
            event.support_at_home,
        ),
    )
    rows.advance("flows", envelope)


def outflow_readiness_assessed(rows: Rows, envelope: Envelope, event: OutflowReadinessAssessed) -> None:
    rows.assessments[envelope.event_id] = (
        envelope.event_id,
        event.placement_id,
        event.client_ref,
        event.assessed_on,
        event.ready,
        envelope.occurred_at,
    )
    rows.advance("flows", envelope)


def responsibility_transferred(rows: Rows, envelope: Envelope, event: ResponsibilityTransferred) -> None:
    rows.transfers[envelope.event_id] = (
        envelope.event_id,
        event.client_ref,
        event.from_municipality,
        event.to_municipality,
        event.reason.value,
        event.effective_on,
    )
    rows.advance("flows", envelope)


def facility_registered(rows: Rows, envelope: Envelope, event: FacilityRegistered) -> None:
    row = (
        event.facility_id,
        event.provider_agb,
        event.municipality,
        event.wijk,
        event.care_form.value,
        event.capacity,
        envelope.occurred_at,
    )
    known = rows.facilities.get(event.facility_id)
    if known is None or known[-1] <= envelope.occurred_at:
        rows.facilities[event.facility_id] = row
    rows.advance("places", envelope)


def housing_offer_made(rows: Rows, envelope: Envelope, event: HousingOfferMade) -> None:
    rows.offers_made[event.offer_id] = (
        event.offer_id,
        event.corporation_id,
        event.municipality,
        event.wijk,
        event.quota_year or event.offered_on.year,
        event.offered_on,
    )
    rows.advance("places", envelope)


def _answered(rows: Rows, envelope: Envelope, offer_id: str, status: str, on: date, reason: str | None) -> None:
    rows.offers_answered[offer_id] = (offer_id, status, on, reason)
    rows.advance("places", envelope)


def housing_offer_accepted(rows: Rows, envelope: Envelope, event: HousingOfferAccepted) -> None:
    _answered(rows, envelope, event.offer_id, "accepted", event.answered_on, None)


def housing_offer_declined(rows: Rows, envelope: Envelope, event: HousingOfferDeclined) -> None:
    status = "lapsed" if event.reason.value == "lapsed" else "declined"
    _answered(rows, envelope, event.offer_id, status, event.answered_on, event.reason.value)


def housing_contingent_agreed(rows: Rows, envelope: Envelope, event: HousingContingentAgreed) -> None:
    key = (event.corporation_id, event.municipality, event.year)
    known = rows.contingents.get(key)
    if known is None or known[-1] <= envelope.occurred_at:
        rows.contingents[key] = (*key, event.homes, envelope.occurred_at)
    rows.advance("places", envelope)


RowMapper = Callable[[Rows, Envelope, Any], None]

# Registered by event class; several projections may read one event (both write into one Rows).
MAPPERS: dict[type[Event], list[RowMapper]] = {
    ClientRegistered: [client_registered],
    PlacementMade: [placement_made],
    PlacementEnded: [placement_ended],
    OutflowCompleted: [outflow_completed],
    OutflowReadinessAssessed: [outflow_readiness_assessed],
    ResponsibilityTransferred: [responsibility_transferred],
    FacilityRegistered: [facility_registered],
    HousingOfferMade: [housing_offer_made],
    HousingOfferAccepted: [housing_offer_accepted],
    HousingOfferDeclined: [housing_offer_declined],
    HousingContingentAgreed: [housing_contingent_agreed],
}


def fold(events: list[tuple[Envelope, Event]]) -> Rows:
    """The rows a batch of (new) events writes, in the order they were delivered."""
    rows = Rows()
    for envelope, event in events:
        for mapper in MAPPERS[type(event)]:
            mapper(rows, envelope, event)
    return rows
