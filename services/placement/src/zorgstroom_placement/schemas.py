"""HTTP shapes of placement (DESIGN.md): what facilities, providers and municipalities send and read."""

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zorgstroom_contracts.codes import CareForm, EndReason, Need, TransferReason
from zorgstroom_contracts.types import AgbCode, MunicipalityCode, WijkCode
from zorgstroom_placement.domain.readiness import missing_or_invalid_domains


class FacilityPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_agb: AgbCode
    name: str = Field(min_length=1, max_length=200)
    municipality: MunicipalityCode
    wijk: WijkCode | None = Field(default=None, description="Required for a building; absent for BW_HOME teams.")
    care_form: CareForm
    capacity: int = Field(ge=0, le=10_000, description="Places, or the caseload of a BW_HOME team.")
    supported_needs: list[Need] = Field(default_factory=list)


class FacilityPublic(BaseModel):
    facility_id: str
    provider_agb: str
    name: str
    municipality: str
    wijk: str | None
    care_form: CareForm
    capacity: int
    occupied: int
    free_places: int
    supported_needs: list[Need]


def _check_scores(scores: dict[str, int]) -> dict[str, int]:
    wrong = missing_or_invalid_domains(scores)
    if wrong:
        raise ValueError(f"every ZRM domain needs a score from 1 to 5; missing or invalid: {', '.join(wrong)}")
    return scores


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assessed_on: date
    scores: dict[str, int] = Field(description="All 13 ZRM domains, each 1 (acute) to 5 (fully self-sufficient).")
    client_wants_to_move: bool = Field(description="The client's voice: readiness needs the client to want to move.")
    client_scores: dict[str, int] | None = Field(default=None, description="The client's own 13 ZRM scores.")
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
    end_date: date


class PlacementEndedPublic(BaseModel):
    placement_id: str
    reason: EndReason
    end_date: date
    event_id: str


class PlacementPublic(BaseModel):
    placement_id: str
    client_ref: str
    facility_id: str
    care_form: CareForm
    responsible_municipality: str
    start_date: date
    ready: bool
    support_at_home: bool


class TransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_municipality: MunicipalityCode
    reason: TransferReason
    effective_on: date


class TransferPublic(BaseModel):
    client_ref: str
    from_municipality: str
    to_municipality: str
    effective_on: date
    event_id: str
