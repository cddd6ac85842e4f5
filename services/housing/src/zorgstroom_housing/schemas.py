"""HTTP shapes of housing (DESIGN.md)."""

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zorgstroom_contracts.types import (
    Identifier,
    MunicipalityCode,
    WijkCode,
    municipality_wijk_matches,
)


class HousingUnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corporation_id: Identifier
    unit_id: Identifier
    municipality: MunicipalityCode
    wijk: WijkCode
    rooms: int = Field(ge=1, le=10)
    rent_eur: float = Field(ge=0, le=10_000)
    available_from: date
    accessible: bool = False

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
    used: int
