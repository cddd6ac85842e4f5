"""What each event means for reporting's tables, as rows: pure functions, no database.

Reporting's projections are fact tables written by upserts, so they end in the same rows whatever
order the topics deliver their events in (an ending before its placement, an answer before its
offer, an outflow before its assessment). A batch of events is first folded here into at most one
row per table and key, with the same rule the upsert applies, so that one statement per table can
write the whole batch (`writer.py`).

A facility and a quota change, and the newer change wins by `order_of_change`: the version the producer
raised with it, then its offset on the topic; never the producers' clocks (`occurred_at`), which may be
skewed. A consent and an assessment keep their offset, which orders two of one day (domain/facts.py).
Neither depends on the order batches are written in, so a rebuild writing two batches at once ends in
the same rows, and the same reports, as the live consumer.

Only accepted transfers (ResponsibilityTransferred) change a report; proposals and declines do not, and a
RegistrationUpdated changes nothing reported (its care form stays that of the registration).
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    Event,
    FacilityRegistered,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferDeclined,
    HousingOfferMade,
    OutflowCompleted,
    OutflowReadinessAssessed,
    OutflowRefused,
    PlacementEnded,
    PlacementMade,
    RegistrationWithdrawn,
    ResponsibilityTransferred,
)

Row = tuple[Any, ...]


@dataclass
class Rows:
    """One batch's rows, per table and kind of fact, keyed so that each key occurs once per statement."""

    registrations: dict[str, Row] = field(default_factory=dict)  # first wins (DO NOTHING)
    placements: dict[str, Row] = field(default_factory=dict)  # a start and an end merged (PLACEMENT_COLUMNS)
    outflows: dict[str, Row] = field(default_factory=dict)  # first wins
    assessments: dict[UUID, Row] = field(default_factory=dict)  # one per event
    transfers: dict[UUID, Row] = field(default_factory=dict)  # one per event
    withdrawals: dict[str, Row] = field(default_factory=dict)  # first wins
    consents: dict[UUID, Row] = field(default_factory=dict)  # one per event
    facilities: dict[str, Row] = field(default_factory=dict)  # the newer change wins (order_of_change)
    offers: dict[str, Row] = field(default_factory=dict)  # an offer and its answer merged (OFFER_COLUMNS)
    contingents: dict[tuple[str, str, int], Row] = field(default_factory=dict)  # the newer change wins
    positions: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # events applied, newest
    offset: int = 0  # the topic offset of the event being folded (set by fold)

    def advance(self, projection: str, envelope: Envelope) -> None:
        occurred_at = envelope.occurred_at
        known = self.positions.get(projection)
        if known is None:
            self.positions[projection] = (1, occurred_at)
        else:  # once per event of a replay: no max() call, no tuple built for the default
            self.positions[projection] = (known[0] + 1, occurred_at if occurred_at > known[1] else known[1])


def client_registered(rows: Rows, envelope: Envelope, event: ClientRegistered) -> None:
    rows.registrations.setdefault(
        event.intake_id,
        (
            event.intake_id,
            event.client_ref,
            event.registering_municipality,
            event.responsible_municipality,
            event.care_form,
            event.registered_on,
            envelope.event_id,
            envelope.occurred_at,
            event.consent_to_share,
        ),
    )
    rows.advance("flows", envelope)


def consent_recorded(rows: Rows, envelope: Envelope, event: ConsentRecorded) -> None:
    """Only what a report needs: whose consent, given or not, from which day (and the order of one day's)."""
    rows.consents[envelope.event_id] = (
        envelope.event_id,
        event.client_ref,
        event.consent_to_share,
        event.recorded_on,
        envelope.occurred_at,
        rows.offset,
    )
    rows.advance("flows", envelope)


PLACEMENT_COLUMNS = (
    "placement_id", "intake_id", "client_ref", "responsible_municipality", "facility_id",
    "facility_municipality", "wijk", "care_form", "start_date", "waited_days", "doorstroom_from",
    "end_date", "end_reason", "doorstroom_to",
)  # fmt: skip
_STARTED, _ENDED = slice(1, 11), slice(11, 14)  # what a PlacementMade says, what a PlacementEnded says
_EITHER = (1, 7)  # intake_id and care_form: both events may say them; the start's word wins, else the end's


def _merge(known: Row | None, new: Row, part: slice, *, base: slice | None = None, either: tuple[int, ...] = ()) -> Row:
    """One row per key for a batch: `new`'s part over what the batch knew of the key, the rest kept; `base`
    (the key's identifying columns) is taken from `new` only where nothing was known yet; a column of
    `either` left empty is filled from whichever event said it."""
    if known is None:
        return new
    merged = list(known)
    merged[part] = new[part]
    if base is not None and all(v is None for v in known[base]):
        merged[base] = new[base]
    for i in either:
        if merged[i] is None:
            merged[i] = known[i] if known[i] is not None else new[i]
    return tuple(merged)


def placement_made(rows: Rows, envelope: Envelope, event: PlacementMade) -> None:
    row = (
        event.placement_id,
        event.intake_id,
        event.client_ref,
        event.responsible_municipality,
        event.facility_id,
        event.facility_municipality,
        event.wijk,
        event.care_form,
        event.start_date,
        event.waited_days,
        event.doorstroom_from,
        None,
        None,
        None,
    )
    rows.placements[event.placement_id] = _merge(rows.placements.get(event.placement_id), row, _STARTED, either=_EITHER)
    rows.advance("flows", envelope)


def placement_ended(rows: Rows, envelope: Envelope, event: PlacementEnded) -> None:
    row = (
        event.placement_id,
        event.intake_id,
        event.client_ref,
        event.responsible_municipality,
        event.facility_id,
        None,
        None,
        event.care_form,
        None,
        None,
        None,
        event.end_date,
        event.reason.value,
        event.doorstroom_to,
    )
    known = rows.placements.get(event.placement_id)
    rows.placements[event.placement_id] = _merge(known, row, _ENDED, base=slice(2, 5), either=_EITHER)
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
        rows.offset,
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
        event.transfer_id,
        None if event.intake_ids is None else json.dumps(sorted(event.intake_ids)),
        event.accepted_on,
        event.to_in_region,
    )
    rows.advance("flows", envelope)


def registration_withdrawn(rows: Rows, envelope: Envelope, event: RegistrationWithdrawn) -> None:
    rows.withdrawals.setdefault(
        event.intake_id,
        (
            event.intake_id,
            event.client_ref,
            event.responsible_municipality,
            event.care_form,
            event.reason.value,
            event.withdrawn_on,
        ),
    )
    rows.advance("flows", envelope)


def order_of_change(version: int | None, offset: int) -> tuple[int, int]:
    """Where a change of a facility or a quota stands among the changes of its key: first the version its
    producer raised in the same statement as the change; an event from before versions has none and counts
    as 0, older than every versioned change (all of them were written after it). Then the record's offset on
    its topic: the key fixes the partition, so for one key the offset is the order the producer wrote in,
    which decides between unversioned events. The upserts of writer.py compare the same pair."""
    return (version or 0, offset)


def _newer(known: Row | None, row: Row) -> bool:
    """Whether `row` (its last two columns: version, offset) is a newer change than the batch's `known`."""
    return known is None or tuple(known[-2:]) < tuple(row[-2:])


def facility_registered(rows: Rows, envelope: Envelope, event: FacilityRegistered) -> None:
    row = (
        event.facility_id,
        event.provider_agb,
        event.municipality,
        event.wijk,
        event.care_form,
        event.capacity,
        envelope.occurred_at,
        *order_of_change(event.version, rows.offset),
    )
    if _newer(rows.facilities.get(event.facility_id), row):
        rows.facilities[event.facility_id] = row
    rows.advance("places", envelope)


OFFER_COLUMNS = (
    "offer_id",
    "corporation_id",
    "municipality",
    "wijk",
    "quota_year",
    "offered_on",
    "status",
    "answered_on",
    "reason",
)
_MADE, _ANSWERED = slice(1, 6), slice(6, 9)
VOIDED = "voided"


def housing_offer_made(rows: Rows, envelope: Envelope, event: HousingOfferMade) -> None:
    row = (
        event.offer_id,
        event.corporation_id,
        event.municipality,
        event.wijk,
        event.quota_year or event.offered_on.year,
        event.offered_on,
        None,
        None,
        None,
    )
    rows.offers[event.offer_id] = _merge(rows.offers.get(event.offer_id), row, _MADE)
    rows.advance("places", envelope)


def _answered(rows: Rows, envelope: Envelope, offer_id: str, status: str, on: date, reason: str | None) -> None:
    row = (offer_id, None, None, None, None, None, status, on, reason)
    known = rows.offers.get(offer_id)
    if known is None or known[_ANSWERED][0] != VOIDED:  # a voided acceptance stays voided (the writer's rule too)
        rows.offers[offer_id] = _merge(known, row, _ANSWERED)
    rows.advance("places", envelope)


def housing_offer_accepted(rows: Rows, envelope: Envelope, event: HousingOfferAccepted) -> None:
    _answered(rows, envelope, event.offer_id, "accepted", event.answered_on, None)


def outflow_refused(rows: Rows, envelope: Envelope, event: OutflowRefused) -> None:
    """Placement refused the outflow of an accepted offer (its placement had ended first): housing gave the home
    and the quota unit back. The offer counts as voided, whichever of acceptance and refusal comes first."""
    _answered(rows, envelope, event.offer_id, VOIDED, event.refused_on, event.reason.value)


def housing_offer_declined(rows: Rows, envelope: Envelope, event: HousingOfferDeclined) -> None:
    status = "lapsed" if event.reason.value == "lapsed" else "declined"
    _answered(rows, envelope, event.offer_id, status, event.answered_on, event.reason.value)


def housing_contingent_agreed(rows: Rows, envelope: Envelope, event: HousingContingentAgreed) -> None:
    key = (event.corporation_id, event.municipality, event.year)
    row = (*key, event.homes, envelope.occurred_at, *order_of_change(event.version, rows.offset))
    if _newer(rows.contingents.get(key), row):
        rows.contingents[key] = row
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
    RegistrationWithdrawn: [registration_withdrawn],
    ConsentRecorded: [consent_recorded],
    FacilityRegistered: [facility_registered],
    HousingOfferMade: [housing_offer_made],
    HousingOfferAccepted: [housing_offer_accepted],
    HousingOfferDeclined: [housing_offer_declined],
    OutflowRefused: [outflow_refused],
    HousingContingentAgreed: [housing_contingent_agreed],
}


def fold(events: Sequence[tuple[Envelope, Event]], offsets: Sequence[int] | None = None) -> Rows:
    """The rows a batch of (new) events writes, in the order they were delivered; `offsets` are their
    records' offsets on their topics (by default their places in `events`)."""
    rows = Rows()
    for (envelope, event), offset in zip(events, range(len(events)) if offsets is None else offsets, strict=True):
        rows.offset = offset
        for mapper in MAPPERS[type(event)]:
            mapper(rows, envelope, event)
    return rows
