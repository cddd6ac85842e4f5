"""HTTP shapes of placement: what facilities, providers and municipalities send and read."""

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from zorgstroom_contracts.codes import (
    EndReason,
    Need,
    TransferDeclineReason,
    TransferReason,
    Urgency,
    WithdrawalReason,
    ZrmDomain,
)
from zorgstroom_contracts.types import AgbCode, CareFormCode, MunicipalityCode, WijkCode
from zorgstroom_placement.domain.readiness import missing_or_invalid_domains
from zorgstroom_runtime.isotime import IsoDate


class FacilityPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_agb: AgbCode
    name: str = Field(min_length=1, max_length=200)
    municipality: MunicipalityCode
    wijk: WijkCode | None = Field(default=None, description="Required for a building; absent for an ambulant team.")
    care_form: CareFormCode = Field(description="A care form of the region (region data).")
    capacity: int = Field(ge=0, le=10_000, description="Places, or the caseload of an ambulant team.")
    supported_needs: list[Need] = Field(default_factory=list)


class FacilityPublic(BaseModel):
    facility_id: str
    provider_agb: str
    name: str
    municipality: str
    wijk: str | None
    care_form: str
    capacity: int
    occupied: int | None = Field(
        description="Places taken: shown to region staff and to the provider that owns the facility, else null "
        "(a count of a few clients in one place could single them out)."
    )
    free_places: int | None = Field(description="Capacity less occupied; null where `occupied` is.")
    supported_needs: list[Need]


def _check_scores(scores: dict[str, int]) -> dict[str, int]:
    wrong = missing_or_invalid_domains(scores)
    if wrong:
        raise ValueError(f"every ZRM domain needs a score from 1 to 5; missing or invalid: {', '.join(wrong)}")
    return scores


# The rule `_check_scores` holds, stated for the OpenAPI document: every domain, each scored 1 to 5, no other key.
ZRM_SCORES: dict[str, Any] = {
    "properties": {d.value: {"type": "integer", "minimum": 1, "maximum": 5} for d in ZrmDomain},
    "required": [d.value for d in ZrmDomain],
    "additionalProperties": False,
}


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assessed_on: IsoDate
    scores: dict[str, int] = Field(
        description="All 13 ZRM domains, each 1 (acute) to 5 (fully self-sufficient).", json_schema_extra=ZRM_SCORES
    )
    client_wants_to_move: StrictBool = Field(
        description="The client's voice: readiness needs the client to want to move."
    )
    client_scores: dict[str, int] | None = Field(
        default=None, description="The client's own 13 ZRM scores.", json_schema_extra=ZRM_SCORES
    )
    preferred_municipalities: list[MunicipalityCode] | None = None

    _scores_complete = field_validator("scores")(_check_scores)

    @field_validator("client_scores")
    @classmethod
    def _client_scores_complete(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        return None if value is None else _check_scores(value)


class AssessmentRecorded(BaseModel):
    placement_id: str
    ready: bool
    support_at_home: bool
    event_id: str


class PlacementEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: EndReason = Field(description="iWmo WMO588 reason of ending.")
    end_date: IsoDate


class PlacementEndedPublic(BaseModel):
    placement_id: str
    reason: EndReason
    end_date: date
    event_id: str


class PlacementPublic(BaseModel):
    placement_id: str
    client_ref: str
    facility_id: str
    care_form: str
    responsible_municipality: str
    start_date: date
    ready: bool
    support_at_home: bool


class HouseholdUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    adults: int = Field(ge=1, le=10)
    children: int = Field(ge=0, le=15)


class RegistrationUpdate(BaseModel):
    """What the responsible municipality may change on a waiting registration (at least one of them)."""

    model_config = ConfigDict(
        extra="forbid",  # the document says "at least one of them", as `_something_changes` does
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in ("needs", "urgency", "household", "preferred_municipalities")
            ]
        },
    )
    needs: list[Need] | None = None
    urgency: Urgency | None = None
    household: HouseholdUpdate | None = None
    preferred_municipalities: list[MunicipalityCode] | None = None
    updated_on: IsoDate | None = Field(default=None, description="Business date of the change; today when absent.")

    @model_validator(mode="after")
    def _something_changes(self) -> "RegistrationUpdate":
        if all(v is None for v in (self.needs, self.urgency, self.household, self.preferred_municipalities)):
            raise ValueError("give at least one of needs, urgency, household, preferred_municipalities")
        return self


class RegistrationWithdraw(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: WithdrawalReason
    withdrawn_on: IsoDate | None = Field(
        default=None, description="Business date of the withdrawal; today when absent."
    )


class HouseholdPublic(BaseModel):
    adults: int
    children: int


class RegistrationPublic(BaseModel):
    intake_id: str
    client_ref: str
    care_form: str
    responsible_municipality: str
    urgency: Urgency
    needs: list[Need]
    household: HouseholdPublic
    preferred_municipalities: list[str]
    status: str
    waiting_since: date


class TransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_municipality: MunicipalityCode
    reason: TransferReason
    effective_on: IsoDate


class TransferAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accepted_on: IsoDate | None = Field(default=None, description="When the receiver accepted; today when absent.")


class TransferDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: TransferDeclineReason


class TransferPublic(BaseModel):
    transfer_id: str
    status: str
    client_ref: str
    intake_ids: list[str]
    from_municipality: str
    to_municipality: str
    to_in_region: bool
    reason: TransferReason
    effective_on: date
    proposed_on: date
    answered_on: date | None
    decline_reason: TransferDeclineReason | None


class ConsentPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent_to_share: StrictBool = Field(
        description="Consent to share with housing corporations, given (true) or withdrawn."
    )
    recorded_on: IsoDate | None = Field(default=None, description="Business date of the consent; today when absent.")


class ConsentRecordedPublic(BaseModel):
    client_ref: str
    consent_to_share: bool
    recorded_on: date
    event_id: str
