"""A region as data: its municipalities, centre municipality and policies, loaded at start-up."""

import csv
import tomllib
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from zorgstroom_contracts.types import MunicipalityCode, RegionCode


class Municipality(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: MunicipalityCode
    name: str
    population: int


class ResponsibilityPolicy(BaseModel):
    """Who is responsible (DOMAIN.md): current law, and the woonplaatsbeginsel for BW from a date."""

    model_config = ConfigDict(frozen=True)
    bw_residence_principle_from: date | None = Field(
        default=None, description="From this registration date BW follows the woonplaatsbeginsel (Kamerstuk 36288)."
    )
    recent_bw_months: int = Field(default=12, description="A BW that ended this recently keeps its municipality.")


class Region(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: RegionCode
    name: str
    centre_municipality: MunicipalityCode
    municipalities: dict[str, Municipality]
    responsibility: ResponsibilityPolicy
    national: dict[str, Municipality] = Field(description="Every municipality of the country, by code.")

    def in_region(self, code: str) -> bool:
        return code in self.municipalities

    def known(self, code: str) -> bool:
        return code in self.national


def load_national(path: Path) -> dict[str, Municipality]:
    with path.open(newline="", encoding="utf-8") as f:
        return {
            row["cbs_code"]: Municipality(code=row["cbs_code"], name=row["name"], population=int(row["population"]))
            for row in csv.DictReader(f)
        }


def load_region(region_file: Path, municipalities_file: Path) -> Region:
    raw = tomllib.loads(region_file.read_text(encoding="utf-8"))
    national = load_national(municipalities_file)
    unknown = [c for c in raw["municipalities"] if c not in national]
    if unknown:
        raise ValueError(f"{region_file}: unknown CBS municipality codes {unknown}")
    return Region(
        code=raw["code"],
        name=raw["name"],
        centre_municipality=raw["centre_municipality"],
        municipalities={c: national[c] for c in raw["municipalities"]},
        responsibility=ResponsibilityPolicy(**raw.get("responsibility", {})),
        national=national,
    )
