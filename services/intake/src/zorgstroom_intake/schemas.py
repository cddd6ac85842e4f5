"""The HTTP shapes of intake (docs/http.md): what a municipal case system sends and gets back."""

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from zorgstroom_contracts.codes import Need, Urgency
from zorgstroom_contracts.types import CareFormCode, ClientRef, MunicipalityCode
from zorgstroom_intake.domain.bsn import passes_eleven_test
from zorgstroom_runtime.isotime import IsoDate


class LastBw(BaseModel):
    model_config = ConfigDict(extra="forbid")
    municipality: MunicipalityCode
    ended_on: IsoDate


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    adults: int = Field(ge=1, le=10)
    children: int = Field(ge=0, le=15)


class IntakeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "registering_municipality": "0034",
                    "bsn": "111222333",
                    "care_form": "BW_24H",
                    "needs": ["psychiatric"],
                    "urgency": "normal",
                    "residence_municipality": "0995",
                    "household": {"adults": 1, "children": 0},
                    "preferred_municipalities": ["0034"],
                    "registered_on": "2026-11-22",
                    "consent_to_share": True,
                }
            ]
        },
    )

    registering_municipality: MunicipalityCode
    bsn: Annotated[str, Field(description="Checked with the eleven-test, pseudonymised, never stored.")]
    birth_year: int | None = Field(
        default=None,
        ge=1900,
        le=2100,
        deprecated=True,
        description="Deprecated and optional: still accepted and checked, then discarded (no consumer needs it).",
    )
    care_form: CareFormCode = Field(description="A care form of the region (its data file), e.g. BW_24H.")
    needs: list[Need] = Field(max_length=4)
    urgency: Urgency
    residence_municipality: MunicipalityCode | None = Field(description="null when homeless")
    last_bw: LastBw | None = None
    household: HouseholdIn
    preferred_municipalities: list[MunicipalityCode] = Field(default_factory=list, max_length=20)
    registered_on: IsoDate = Field(
        description="No later than today plus the region's margin (docs/domain.md, 'Dates')."
    )
    consent_to_share: StrictBool  # strict: 0 or "no" is not an answer

    @field_validator("bsn")
    @classmethod
    def _eleven_test(cls, value: str) -> str:
        if not passes_eleven_test(value):
            raise ValueError("not a valid BSN (nine digits that pass the eleven-test)")
        return value


class IntakeAccepted(BaseModel):
    intake_id: str
    client_ref: ClientRef
    event_id: str
    responsible_municipality: MunicipalityCode
    responsibility_rule: str


class IntakePublic(BaseModel):
    intake_id: str
    client_ref: ClientRef
    status: str = Field(description="registered: stored; published: its event is on Kafka.")
    registering_municipality: MunicipalityCode
    responsible_municipality: MunicipalityCode
    care_form: CareFormCode
    urgency: Urgency
    registered_on: date
    event_id: str
