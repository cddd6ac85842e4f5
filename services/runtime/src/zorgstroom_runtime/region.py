"""Reads a region's data file at start-up. The models are the contract's (zorgstroom_contracts.region),
so that every service's domain takes them as its policy types."""

import csv
import tomllib
from pathlib import Path
from typing import Any

from zorgstroom_contracts.region import (
    BudgetShares,
    CareFormGroup,
    CareFormSpec,
    DatePolicy,
    HousingPolicy,
    MoFunding,
    MoneyPolicy,
    Municipality,
    PlacementPolicy,
    Region,
    ReportingPolicy,
    ResponsibilityPolicy,
)

__all__ = [
    "BudgetShares",
    "CareFormGroup",
    "CareFormSpec",
    "DatePolicy",
    "HousingPolicy",
    "MoFunding",
    "MoneyPolicy",
    "Municipality",
    "PlacementPolicy",
    "Region",
    "ReportingPolicy",
    "ResponsibilityPolicy",
    "load_national",
    "load_region",
]


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
    extra: dict[str, Any] = {}
    if "care_forms" in raw:  # a region's own list replaces the standard five (it names them all)
        extra["care_forms"] = {code: CareFormSpec(code=code, **spec) for code, spec in raw["care_forms"].items()}
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
        dates=DatePolicy(**raw.get("dates", {})),
        national=national,
        **extra,
    )


def _int_keys(table: dict[str, Any]) -> dict[int, Any]:
    """TOML table keys are strings; household sizes and years are numbers."""
    return {int(k): v for k, v in table.items()}
