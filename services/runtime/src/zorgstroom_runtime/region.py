"""A region as data: its municipalities, centre municipality and policies, loaded at start-up."""

import csv
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zorgstroom_contracts.codes import ZrmDomain
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


class PlacementPolicy(BaseModel):
    """Placement's policies (DOMAIN.md rules 4 and 5). The defaults are ILLUSTRATIVE; a region sets its own."""

    model_config = ConfigDict(frozen=True)
    wijk_place_cap_default: int = Field(default=40, ge=0, description="Facility places a wijk may hold.")
    wijk_place_caps: dict[str, int] = Field(default_factory=dict, description="Per-wijk caps that differ.")
    readiness_threshold: int = Field(default=3, ge=1, le=5, description="Score the required domains need.")
    readiness_required_domains: tuple[ZrmDomain, ...] = Field(
        default=(
            ZrmDomain.FINANCES,
            ZrmDomain.HOUSING,
            ZrmDomain.MENTAL_HEALTH,
            ZrmDomain.ADDICTION,
            ZrmDomain.SELF_CARE,
            ZrmDomain.DAILY_ACTIVITIES,
        ),
        description="The ZRM domains independent living needs.",
    )
    support_at_home_below: int = Field(
        default=4, ge=1, le=6, description="A move comes with support at home (BW_HOME) when a domain scores below."
    )

    def wijk_place_cap(self, wijk: str) -> int:
        return self.wijk_place_caps.get(wijk, self.wijk_place_cap_default)


class HousingPolicy(BaseModel):
    """Housing's policies (DOMAIN.md rules 4 and 6). The defaults are ILLUSTRATIVE; a region sets its own."""

    model_config = ConfigDict(frozen=True)
    wijk_outflow_cap_default: int = Field(default=12, ge=0, description="Outflow homes a wijk may receive.")
    wijk_outflow_caps: dict[str, int] = Field(default_factory=dict, description="Per-wijk caps that differ.")
    rooms_by_household_size: dict[int, int] = Field(
        default_factory=lambda: {1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4},
        description="Minimum rooms for a household of this many persons.",
    )
    offer_answer_days: int = Field(default=14, ge=1, description="An offer unanswered this long lapses.")

    @field_validator("rooms_by_household_size")
    @classmethod
    def _rooms_table_usable(cls, table: dict[int, int]) -> dict[int, int]:
        # Checked where the region is read, not as an error in the middle of a matching pass.
        if not table or any(size < 1 or rooms < 1 for size, rooms in table.items()):
            raise ValueError("rooms_by_household_size needs household sizes and rooms of at least 1")
        return table

    def wijk_outflow_cap(self, wijk: str) -> int:
        return self.wijk_outflow_caps.get(wijk, self.wijk_outflow_cap_default)


class BudgetShares(BaseModel):
    model_config = ConfigDict(frozen=True)
    historical: float = Field(ge=0, le=1, description="Share of the national budget under the historical model.")
    objective: float = Field(ge=0, le=1, description="Share under the objective model (Cebeon).")


class MoneyPolicy(BaseModel):
    """DOMAIN.md "Money": tariffs, the national budget and each municipality's shares with the phase-in
    (ingroeipad). Every value is region data; the defaults are ILLUSTRATIVE."""

    model_config = ConfigDict(frozen=True)
    tariffs_eur_per_day: dict[str, float] = Field(
        default_factory=lambda: {
            "BW_24H": 185.0,
            "BW_HOME": 55.0,
            "MO_24H": 125.0,
            "MO_NIGHT": 65.0,
            "MO_EMERGENCY": 150.0,
        }
    )
    national_budget_eur: dict[int, float] = Field(default_factory=dict, description="BW and MO together, per year.")
    phase_in_start_year: int = 2027
    phase_in_years: int = Field(default=10, ge=1)
    shares: dict[str, BudgetShares] = Field(default_factory=dict, description="Per municipality code.")


class ReportingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)
    small_number_threshold: int = Field(
        default=5, ge=1, description="Aggregates of fewer clients show as '<N' to all but the responsible municipality."
    )
    relapse_months: int = Field(default=12, ge=1, description="A registration this soon after an outflow is a relapse.")


class Region(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: RegionCode
    name: str
    centre_municipality: MunicipalityCode
    municipalities: dict[str, Municipality]
    responsibility: ResponsibilityPolicy
    placement: PlacementPolicy = Field(default_factory=PlacementPolicy)
    housing: HousingPolicy = Field(default_factory=HousingPolicy)
    money: MoneyPolicy = Field(default_factory=MoneyPolicy)
    reporting: ReportingPolicy = Field(default_factory=ReportingPolicy)
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
        placement=PlacementPolicy(**raw.get("placement", {})),
        housing=HousingPolicy(
            **{k: _int_keys(v) if k == "rooms_by_household_size" else v for k, v in raw.get("housing", {}).items()}
        ),
        money=MoneyPolicy(
            **{k: _int_keys(v) if k == "national_budget_eur" else v for k, v in raw.get("money", {}).items()}
        ),
        reporting=ReportingPolicy(**raw.get("reporting", {})),
        national=national,
    )


def _int_keys(table: dict[str, Any]) -> dict[int, Any]:
    """TOML table keys are strings; household sizes are numbers."""
    return {int(k): v for k, v in table.items()}
