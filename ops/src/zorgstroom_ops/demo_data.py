"""The demo's ILLUSTRATIVE organisations (data/demo/<region>.toml): providers, facilities, corporations,
quotas and how many homes come free. Loaded and checked here; nothing of it is real."""

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from zorgstroom_contracts.codes import Need
from zorgstroom_contracts.types import AgbCode, CareFormCode, Identifier, MunicipalityCode, WijkCode


class Provider(BaseModel):
    model_config = ConfigDict(frozen=True)
    agb: AgbCode
    name: str


class DemoFacility(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: Identifier
    provider: AgbCode
    municipality: MunicipalityCode
    wijk: WijkCode | None = None
    care_form: CareFormCode = Field(description="A care form of the region's data file.")
    capacity: int = Field(ge=0)
    needs: list[Need]

    def body(self, names: dict[str, str]) -> dict[str, object]:
        return {
            "provider_agb": self.provider,
            "name": f"{names[self.provider]}: {self.id}",
            "municipality": self.municipality,
            "wijk": self.wijk,
            "care_form": self.care_form,
            "capacity": self.capacity,
            "supported_needs": [n.value for n in self.needs],
        }


class Corporation(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: Identifier
    name: str
    municipalities: list[MunicipalityCode]


class DemoData(BaseModel):
    model_config = ConfigDict(frozen=True)
    region: str
    providers: list[Provider]
    facilities: list[DemoFacility]
    corporations: list[Corporation]
    quotas: dict[str, dict[MunicipalityCode, int]]
    homes_per_year: dict[MunicipalityCode, int]

    def corporation_for(self, municipality: str) -> Corporation | None:
        return next((c for c in self.corporations if municipality in c.municipalities), None)


def load_demo_data(path: Path) -> DemoData:
    return DemoData.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
