"""Every event in the topic table of docs/events.md: frozen, past tense, versioned, with its topic and key."""

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zorgstroom_contracts.codes import (
    EndReason,
    Need,
    OfferDeclineReason,
    OutflowRefusalReason,
    ProductCategory,
    TransferDeclineReason,
    TransferReason,
    Unit,
    Urgency,
    WithdrawalReason,
)
from zorgstroom_contracts.topics import Topic
from zorgstroom_contracts.types import AgbCode, CareFormCode, ClientRef, Identifier, MunicipalityCode, WijkCode


class Event(BaseModel):
    """Base of all event data: immutable, and tolerant of fields added by later producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Household(Event):
    adults: int = Field(ge=1, le=10, description="Adults in the household, the client included.")
    children: int = Field(ge=0, le=15, description="Children in the household.")


class ClientRegistered(Event):
    """A municipality registered a client for sheltered housing or shelter (intake).

    Version 2 no longer carries the birth year, the residence municipality or the responsibility rule:
    no consumer needs them (docs/privacy.md, "What each event carries"); intake keeps what it needs.
    """

    intake_id: Identifier
    client_ref: ClientRef
    registering_municipality: MunicipalityCode
    responsible_municipality: MunicipalityCode = Field(
        description="Decided by the region's responsibility rule (docs/domain.md: who is responsible)."
    )
    care_form: CareFormCode
    needs: list[Need]
    urgency: Urgency
    household: Household
    preferred_municipalities: list[MunicipalityCode]
    registered_on: date = Field(description="Business date of the registration; waiting counts from it.")
    consent_to_share: bool = Field(
        default=False,
        description="The client consented to sharing with providers and corporations; absent means no.",
    )


class ClientWaitlisted(Event):
    """Placement put a registered client on the regional waiting list."""

    client_ref: ClientRef
    care_form: CareFormCode
    responsible_municipality: MunicipalityCode
    urgency: Urgency
    waiting_since: date


class FacilityRegistered(Event):
    """A facility was registered or changed (capacity changes too)."""

    facility_id: Identifier
    provider_agb: AgbCode
    name: str = Field(max_length=200)
    municipality: MunicipalityCode
    wijk: WijkCode | None = Field(
        description="CBS wijk of the building; None for an ambulant team (BW_HOME), which has no building."
    )
    care_form: CareFormCode
    capacity: int = Field(ge=0, le=10_000, description="Places, or the caseload of an ambulant team.")
    supported_needs: list[Need]
    version: int | None = Field(
        default=None,
        ge=1,
        description="How many times placement registered or changed this facility, this change included: the"
        " higher version is the newer facility, whatever the producers' clocks say. None in events published"
        " before facilities were versioned.",
    )


class PlacementMade(Event):
    """A client got a place in a facility (instroom).

    Version 2: the provider's copy (on its own topic) leaves out how long the client waited and the
    intake behind the placement (`waited_days`, `intake_id` are None there); the regional topic has both.
    """

    placement_id: Identifier
    client_ref: ClientRef
    facility_id: Identifier
    provider_agb: AgbCode
    facility_municipality: MunicipalityCode
    wijk: WijkCode | None = Field(description="The facility's wijk; None for care at home (BW_HOME).")
    responsible_municipality: MunicipalityCode
    care_form: CareFormCode
    start_date: date
    waited_days: int | None = Field(ge=0, description="Days on the waiting list; None in the provider's copy.")
    product_category: ProductCategory | None = Field(
        default=None, description="iWmo WMO020 product category of the care form (15, 16, 17)."
    )
    unit: Unit | None = Field(default=None, description="iWmo WJ756 unit in which the care is counted: 14 etmaal.")
    intake_id: Identifier | None = Field(default=None, description="The intake this placement answers.")
    doorstroom_from: Identifier | None = Field(
        default=None, description="The placement this one follows on the same day (doorstroom), if any."
    )


class PlacementEnded(Event):
    """A placement ended, with its WMO588 reason."""

    placement_id: Identifier
    client_ref: ClientRef
    facility_id: Identifier
    provider_agb: AgbCode
    responsible_municipality: MunicipalityCode
    reason: EndReason
    end_date: date
    care_form: CareFormCode | None = Field(default=None, description="The care form of the placement that ended.")
    intake_id: Identifier | None = Field(default=None, description="The intake (registration) the placement answered.")
    doorstroom_to: CareFormCode | None = Field(
        default=None,
        description="Set when the client moved on the same day to a place of this care form (doorstroom);"
        " the reason is then 37 (change request).",
    )
    next_placement_id: Identifier | None = Field(default=None, description="The placement of the doorstroom.")


class OutflowReadinessAssessed(Event):
    """A provider scored the ZRM for a placed client; ready is decided by the region's policy.

    Version 2 carries the outcome, not the 13 scores, the client's own scores or the client's wish to move:
    they stay with placement, which decides `ready` from them (the wish included); no consumer of the topic
    needs a client's scores per life domain.
    """

    placement_id: Identifier
    client_ref: ClientRef
    provider_agb: AgbCode
    responsible_municipality: MunicipalityCode
    assessed_on: date
    ready: bool
    preferred_municipalities: list[MunicipalityCode] | None = Field(
        default=None, description="The client's updated wishes for where to live; None leaves them as they were."
    )
    support_at_home: bool | None = Field(
        default=None, description="Whether, by the region's policy, support at home (BW_HOME) comes with a move."
    )


class HousingUnitOffered(Event):
    """A housing corporation offered a unit for outflow."""

    corporation_id: Identifier
    unit_id: Identifier
    municipality: MunicipalityCode
    wijk: WijkCode
    rooms: int = Field(ge=1, le=10)
    rent_eur: float = Field(ge=0, le=10_000)
    available_from: date
    accessible: bool


class HousingOfferMade(Event):
    """A unit was proposed to a client who is ready for outflow."""

    offer_id: Identifier
    unit_id: Identifier
    corporation_id: Identifier
    client_ref: ClientRef
    municipality: MunicipalityCode
    offered_on: date
    wijk: WijkCode | None = Field(default=None, description="The unit's wijk.")
    responsible_municipality: MunicipalityCode | None = Field(default=None)
    quota_year: int | None = Field(default=None, description="The contingent year the offer counts against.")
    answer_by: date | None = Field(default=None, description="Unanswered past this date, the offer lapses.")
    placement_id: Identifier | None = Field(
        default=None, description="The placement the client was in when offered; the outflow ends that one."
    )


class HousingOfferAccepted(Event):
    """The client accepted an offered unit; placement completes the outflow."""

    offer_id: Identifier
    unit_id: Identifier
    client_ref: ClientRef
    answered_on: date
    corporation_id: Identifier | None = Field(default=None)
    municipality: MunicipalityCode | None = Field(default=None, description="Municipality of the new home.")
    wijk: WijkCode | None = Field(default=None, description="Wijk of the new home.")
    placement_id: Identifier | None = Field(
        default=None,
        description="The placement the offer was made in: placement completes the outflow from that one only,"
        " and answers OutflowRefused when it is no longer open. None on acceptances from before it was carried.",
    )


class OutflowRefused(Event):
    """Placement could not complete the outflow of an accepted offer: the placement it was made in had ended
    (the acceptance raced the ending). Housing gives the home and the quota unit back and voids the offer."""

    offer_id: Identifier
    unit_id: Identifier
    client_ref: ClientRef
    reason: OutflowRefusalReason
    refused_on: date = Field(
        description="The day of the acceptance refused: the home was never let, so it is free again from then."
    )
    placement_id: Identifier | None = Field(default=None, description="The placement the acceptance named.")
    corporation_id: Identifier | None = Field(default=None)
    municipality: MunicipalityCode | None = Field(default=None, description="Municipality of the home given back.")


class HousingOfferDeclined(Event):
    """The client declined an offered unit, or it lapsed unanswered (reason `lapsed`)."""

    offer_id: Identifier
    unit_id: Identifier
    client_ref: ClientRef
    answered_on: date
    reason: OfferDeclineReason
    corporation_id: Identifier | None = Field(default=None)
    municipality: MunicipalityCode | None = Field(default=None)


class OutflowCompleted(Event):
    """A client moved from a facility into an own home (uitstroom).

    Version 2: the provider's copy (on its own topic) leaves out the home itself (`unit_id` and `wijk`
    are None there): the provider of the facility the client left needs to know that and when, not where.
    """

    placement_id: Identifier
    client_ref: ClientRef
    unit_id: Identifier | None = Field(description="The home; None in the provider's copy.")
    responsible_municipality: MunicipalityCode
    municipality: MunicipalityCode = Field(description="Municipality of the new home.")
    outflow_date: date
    support_at_home: Literal["BW_HOME", "none"]
    wijk: WijkCode | None = Field(default=None, description="CBS wijk of the new home.")
    facility_id: Identifier | None = Field(default=None, description="The facility the client left.")
    provider_agb: AgbCode | None = Field(default=None, description="The provider of the placement that ended.")


class ResponsibilityTransferred(Event):
    """The responsible municipality handed a client, with a reason, to another municipality."""

    client_ref: ClientRef
    from_municipality: MunicipalityCode
    to_municipality: MunicipalityCode
    to_in_region: bool = Field(description="Whether the receiving municipality belongs to this region.")
    reason: TransferReason
    effective_on: date = Field(description="From this date the new municipality is responsible.")
    transfer_id: Identifier | None = Field(default=None, description="The accepted proposal.")
    intake_ids: list[Identifier] | None = Field(
        default=None,
        description="The registrations (episode) the transfer applies to; a later registration starts fresh."
        " None on events before proposals existed: then it applies to the client's registrations up to it.",
    )
    accepted_on: date | None = Field(default=None, description="When the receiving municipality accepted.")


class ResponsibilityTransferProposed(Event):
    """The responsible municipality proposes, with a reason, that another municipality takes over a client's
    current episode (docs/domain.md rule 9). It takes effect only when accepted (ResponsibilityTransferred)."""

    transfer_id: Identifier
    client_ref: ClientRef
    intake_ids: list[Identifier] = Field(description="The registrations (episode) the transfer would apply to.")
    from_municipality: MunicipalityCode
    to_municipality: MunicipalityCode
    to_in_region: bool
    reason: TransferReason
    effective_on: date
    proposed_on: date


class ResponsibilityTransferDeclined(Event):
    """The receiving municipality declined a proposed transfer, with a reason; nothing changes."""

    transfer_id: Identifier
    client_ref: ClientRef
    from_municipality: MunicipalityCode
    to_municipality: MunicipalityCode
    reason: TransferDeclineReason
    declined_on: date


class RegistrationUpdated(Event):
    """The responsible municipality changed a waiting registration (docs/domain.md rule 11): the values as they
    now stand."""

    intake_id: Identifier
    client_ref: ClientRef
    responsible_municipality: MunicipalityCode
    care_form: CareFormCode
    needs: list[Need]
    urgency: Urgency
    household: Household
    preferred_municipalities: list[MunicipalityCode]
    updated_on: date


class ConsentRecorded(Event):
    """The responsible municipality recorded that the client gave or withdrew consent to share with housing
    corporations (docs/domain.md, rule 14). Without consent no corporation offer is made; a withdrawal
    withdraws an open offer. The latest dated fact counts; on the same day this event outranks the
    registration's `consent_to_share`."""

    client_ref: ClientRef
    responsible_municipality: MunicipalityCode
    consent_to_share: bool
    recorded_on: date


class RegistrationWithdrawn(Event):
    """A registration left the waiting list unplaced, with a reason (docs/domain.md rule 11)."""

    intake_id: Identifier
    client_ref: ClientRef
    responsible_municipality: MunicipalityCode
    care_form: CareFormCode
    reason: WithdrawalReason
    withdrawn_on: date


class HousingContingentAgreed(Event):
    """A corporation and a municipality agreed (or changed) the number of homes for outflow in a year."""

    corporation_id: Identifier
    municipality: MunicipalityCode
    year: int = Field(ge=2000, le=2100, description="The quota year (a calendar year).")
    homes: int = Field(ge=0, le=100_000, description="Homes the corporation offers for outflow that year.")
    version: int | None = Field(
        default=None,
        ge=1,
        description="How many times housing agreed this quota (corporation, municipality, year), this change"
        " included: the higher version is the newer quota, whatever the producers' clocks say. None in events"
        " published before quotas were versioned.",
    )


@dataclass(frozen=True)
class EventSpec:
    """What the wire needs to know of an event type: its model, version, topic and key."""

    event_type: str
    model: type[Event]
    schema_version: int
    topic: Topic
    key_field: str

    def key_of(self, data: dict[str, Any]) -> str:
        return str(data[self.key_field])


_SPECS = [
    EventSpec("ClientRegistered", ClientRegistered, 2, Topic.CLIENT_REGISTERED, "client_ref"),
    EventSpec("ClientWaitlisted", ClientWaitlisted, 1, Topic.CLIENT_WAITLISTED, "client_ref"),
    EventSpec("FacilityRegistered", FacilityRegistered, 1, Topic.FACILITY_REGISTERED, "facility_id"),
    EventSpec("PlacementMade", PlacementMade, 2, Topic.PLACEMENT_MADE, "client_ref"),
    EventSpec("PlacementEnded", PlacementEnded, 1, Topic.PLACEMENT_ENDED, "client_ref"),
    EventSpec(
        "OutflowReadinessAssessed",
        OutflowReadinessAssessed,
        2,
        Topic.OUTFLOW_READINESS_ASSESSED,
        "client_ref",
    ),
    EventSpec("HousingUnitOffered", HousingUnitOffered, 1, Topic.HOUSING_UNIT_OFFERED, "unit_id"),
    EventSpec("HousingOfferMade", HousingOfferMade, 1, Topic.HOUSING_OFFER_MADE, "client_ref"),
    EventSpec("HousingOfferAccepted", HousingOfferAccepted, 1, Topic.HOUSING_OFFER_ANSWERED, "client_ref"),
    EventSpec("HousingOfferDeclined", HousingOfferDeclined, 1, Topic.HOUSING_OFFER_ANSWERED, "client_ref"),
    EventSpec("OutflowCompleted", OutflowCompleted, 2, Topic.OUTFLOW_COMPLETED, "client_ref"),
    EventSpec("OutflowRefused", OutflowRefused, 1, Topic.OUTFLOW_REFUSED, "client_ref"),
    EventSpec("HousingContingentAgreed", HousingContingentAgreed, 1, Topic.HOUSING_CONTINGENT_AGREED, "corporation_id"),
    EventSpec(
        "ResponsibilityTransferred",
        ResponsibilityTransferred,
        1,
        Topic.RESPONSIBILITY_TRANSFERRED,
        "client_ref",
    ),
    EventSpec(
        "ResponsibilityTransferProposed",
        ResponsibilityTransferProposed,
        1,
        Topic.RESPONSIBILITY_TRANSFER_PROPOSALS,
        "client_ref",
    ),
    EventSpec(
        "ResponsibilityTransferDeclined",
        ResponsibilityTransferDeclined,
        1,
        Topic.RESPONSIBILITY_TRANSFER_PROPOSALS,
        "client_ref",
    ),
    EventSpec("RegistrationUpdated", RegistrationUpdated, 1, Topic.REGISTRATION_CHANGED, "client_ref"),
    EventSpec("RegistrationWithdrawn", RegistrationWithdrawn, 1, Topic.REGISTRATION_CHANGED, "client_ref"),
    EventSpec("ConsentRecorded", ConsentRecorded, 1, Topic.CONSENT_RECORDED, "client_ref"),
]

EVENT_TYPES: dict[str, EventSpec] = {spec.event_type: spec for spec in _SPECS}


def spec_for(event: Event | type[Event]) -> EventSpec:
    cls = event if isinstance(event, type) else type(event)
    return EVENT_TYPES[cls.__name__]
