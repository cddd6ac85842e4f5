"""HTTP shapes of housing: what corporations send and see."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from zorgstroom_contracts.types import (
    Identifier,
    MunicipalityCode,
    WijkCode,
    municipality_wijk_matches,
)
from zorgstroom_runtime.isotime import IsoDate


class HousingUnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corporation_id: Identifier
    unit_id: Identifier
    municipality: MunicipalityCode
    wijk: WijkCode
    rooms: int = Field(ge=1, le=10)
    rent_eur: float = Field(ge=0, le=10_000)
    available_from: IsoDate
    accessible: StrictBool = False

    @model_validator(mode="after")
    def _wijk_lies_in_municipality(self) -> "HousingUnitCreate":
        if not municipality_wijk_matches(self.municipality, self.wijk):
            raise ValueError(f"wijk {self.wijk} does not lie in municipality {self.municipality}")
        return self


class ContingentPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: int = Field(ge=0, le=100_000)


class ContingentPublic(BaseModel):
    corporation_id: str
    municipality: MunicipalityCode
    year: int
    units: int
    used: int = Field(description="Homes taken by accepted offers.")
    reserved: int = Field(default=0, description="Homes promised in open offers.")
    left: int = Field(default=0, description="Homes still to offer under this quota.")


class OfferAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answered_on: IsoDate | None = Field(default=None, description="Business date of the answer; today when absent.")


class OfferDecline(OfferAnswer):
    reason: Literal["too_far", "too_small", "too_expensive", "not_accessible", "not_ready", "other"]


class OfferPublic(BaseModel):
    """What a corporation sees of an offer: never a BSN or a client_ref."""

    offer_id: str
    unit_id: str
    municipality: str
    wijk: str
    quota_year: int
    household_size: int
    rooms_needed: int
    support_at_home: bool = Field(description="Support at home (BW_HOME) comes with the tenant.")
    offered_on: date
    answer_by: date
    status: Literal["open", "accepted", "declined", "lapsed", "voided"] = Field(
        description="`voided`: accepted, but the client's placement had ended first, so the home came back."
    )
    answered_on: date | None
    decline_reason: str | None = Field(
        description="Why declined, lapsed or voided (a voided offer: placement_ended or no_open_placement)."
    )


class UnitPublic(BaseModel):
    unit_id: str
    corporation_id: str
    municipality: str
    wijk: str
    rooms: int
    rent_eur: float
    available_from: date
    accessible: bool
    status: Literal["available", "offered", "let"]
    waiting_reason: str | None = Field(
        description="Why an available unit is not offered now: quota_used_up, wijk_at_cap or no_fitting_client."
    )
