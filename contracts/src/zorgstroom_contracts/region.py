"""A region as data: its municipalities, care forms and policies. The region file is a contract shared by
every service, so its models live here, pure; each service's domain takes these types as its policy
(one home per policy). Reading the file is the runtime's job (zorgstroom_runtime.region.load_region).

Every default below is ILLUSTRATIVE: a region sets its own values in its data file.
"""

import calendar
import math
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zorgstroom_contracts.codes import CareForm, ProductCategory, Unit, ZrmDomain
from zorgstroom_contracts.types import MunicipalityCode, RegionCode


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later (or earlier, when negative); a day the target month
    lacks becomes its last day (31 January + 1 month = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def within_months_after(earlier: date, later: date, months: int) -> bool:
    """Whether `later` lies within `months` calendar months after `earlier`, the day of `earlier` itself
    included and the same day `months` months on excluded (docs/domain.md rule 8: relapse, and intake's
    12-month BW rule, use this one calendar rule)."""
    return earlier <= later < add_months(earlier, months)


class Municipality(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: MunicipalityCode
    name: str
    population: int


class CareFormGroup(StrEnum):
    """Every report splits sheltered housing (BW) from shelter (MO)."""

    BW = "BW"
    MO = "MO"


class CareFormSpec(BaseModel):
    """One care form of the region (docs/domain.md "Care forms"): its group, iWmo product category and unit.
    A region adds its own (an intermediate facility, clustered housing) in its data file, without code."""

    model_config = ConfigDict(frozen=True)
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,39}$")
    label: str = Field(description="The name municipalities use (Dutch).")
    group: CareFormGroup
    product_category: ProductCategory = Field(description="iWmo WMO020 product category.")
    unit: Unit = Unit.ETMAAL
    ambulant: bool = Field(default=False, description="Care in the client's own home: a caseload, no building.")

    @property
    def is_sheltered_housing(self) -> bool:
        return self.group is CareFormGroup.BW


def _standard_care_forms() -> dict[str, CareFormSpec]:
    spec = CareFormSpec
    bw, mo = CareFormGroup.BW, CareFormGroup.MO
    return {
        s.code: s
        for s in (
            spec(code=CareForm.BW_24H, label="Beschermd wonen", group=bw, product_category=ProductCategory("15")),
            spec(
                code=CareForm.BW_HOME,
                label="Beschermd thuis",
                group=bw,
                product_category=ProductCategory("15"),
                ambulant=True,
            ),
            spec(code=CareForm.MO_NIGHT, label="Nachtopvang", group=mo, product_category=ProductCategory("16")),
            spec(code=CareForm.MO_24H, label="24-uursopvang", group=mo, product_category=ProductCategory("16")),
            spec(code=CareForm.MO_EMERGENCY, label="Spoedopvang", group=mo, product_category=ProductCategory("17")),
        )
    }


class ResponsibilityPolicy(BaseModel):
    """Who is responsible (docs/domain.md): current law, and the woonplaatsbeginsel for BW from a date."""

    model_config = ConfigDict(frozen=True)
    bw_residence_principle_from: date | None = Field(
        default=None, description="From this registration date BW follows the woonplaatsbeginsel (Kamerstuk 36288)."
    )
    recent_bw_months: int = Field(default=12, ge=1, description="A BW that ended this recently keeps its municipality.")


class PlacementPolicy(BaseModel):
    """Placement's policies (docs/domain.md rules 4, 5 and 10)."""

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
    doorstroom: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "MO_EMERGENCY": ("MO_NIGHT", "MO_24H", "BW_24H"),
            "MO_NIGHT": ("MO_24H", "BW_24H"),
            "MO_24H": ("BW_24H",),
        },
        description="From which care form a client may wait for which others while keeping the current place.",
    )

    def wijk_place_cap(self, wijk: str) -> int:
        return self.wijk_place_caps.get(wijk, self.wijk_place_cap_default)

    def doorstroom_allowed(self, from_care_form: str, to_care_form: str) -> bool:
        return to_care_form in self.doorstroom.get(from_care_form, ())


class HousingPolicy(BaseModel):
    """Housing's policies (docs/domain.md rules 6 and 13)."""

    model_config = ConfigDict(frozen=True)
    wijk_outflow_cap_default: int = Field(default=12, ge=0, description="Outflow homes a wijk may receive.")
    wijk_outflow_caps: dict[str, int] = Field(default_factory=dict, description="Per-wijk caps that differ.")
    wijk_outflow_window_months: int = Field(
        default=12, ge=1, description="The wijk cap counts homes let to outflow clients over this rolling window."
    )
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

    def rooms_needed(self, adults: int, children: int) -> int:
        """The fewest rooms a household of `adults` and `children` may be offered."""
        if adults < 1 or children < 0:
            raise ValueError("a household has at least one adult (the client) and no negative children")
        size, table = adults + children, self.rooms_by_household_size
        if size in table:
            return table[size]
        largest = max(table)
        if size < largest:
            # A size the region did not list gets what the next listed size up gets: never too small a home.
            return min(rooms for listed, rooms in table.items() if listed >= size)
        return table[largest] + math.ceil((size - largest) / 2)  # a room per two persons more


class BudgetShares(BaseModel):
    model_config = ConfigDict(frozen=True)
    historical: float = Field(ge=0, le=1, description="Share of the national budget under the historical model.")
    objective: float = Field(ge=0, le=1, description="Share under the objective model (Cebeon).")


class MoFunding(StrEnum):
    """Who bears the cost of shelter (MO) in the regional settlement (docs/domain.md "Money")."""

    CENTRE_MUNICIPALITY = "centre_municipality"  # the centre municipality holds the MO funding (Flevoland, for now)
    SHARES = "shares"  # MO follows the same budget shares as BW


class MoneyPolicy(BaseModel):
    """docs/domain.md "Money": tariffs, the national budget and each municipality's shares with the phase-in
    (ingroeipad)."""

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
    mo_funding: MoFunding = Field(default=MoFunding.SHARES, description="Who bears MO cost in the settlement.")
    illustrative: bool = Field(default=True, description="The figures are made up: the dashboard says so.")

    def has_budget(self, year: int) -> bool:
        return year in self.national_budget_eur

    def share(self, municipality: str, year: int) -> float:
        """The ingroeipad: share(y) = h + (o - h) x min(1, max(0, (y - Y + 1) / N)). KeyError without shares."""
        s = self.shares[municipality]
        progress = min(1.0, max(0.0, (year - self.phase_in_start_year + 1) / self.phase_in_years))
        return s.historical + (s.objective - s.historical) * progress

    def budget(self, municipality: str, year: int) -> float:
        """The municipality's share of the year's national budget; KeyError for a year without budget data
        (never a silent zero: docs/domain.md "Money")."""
        return self.share(municipality, year) * self.national_budget_eur[year]

    def tariff(self, care_form: str) -> float:
        """EUR per etmaal; a care form without a tariff costs nothing (the region's data says so)."""
        return self.tariffs_eur_per_day.get(care_form, 0.0)


class ReportingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)
    small_number_threshold: int = Field(
        default=5,
        ge=1,
        description="Measures of fewer clients are withheld; counts are rounded to 5 for all but the responsible"
        " municipality.",
    )
    relapse_months: int = Field(default=12, ge=1, description="A registration this soon after an outflow is a relapse.")


class DatePolicy(BaseModel):
    """How far business dates may lie from today (docs/domain.md rules 9 and 15): no registration, ending or
    transfer in the future beyond a margin, and no transfer that rewrites closed months."""

    model_config = ConfigDict(frozen=True)
    max_days_ahead: int = Field(default=0, ge=0, description="A registration or ending may lie this far ahead.")
    max_days_back: int = Field(
        default=3660,
        ge=0,
        description="A home a corporation records may have come free this long ago: records lag behind, and a"
        " replay of past years (a region's history, the simulation) records them late. A region may tighten it.",
    )
    transfer_max_days_back: int = Field(default=31, ge=0, description="A transfer may take effect this long ago.")
    transfer_max_days_ahead: int = Field(default=92, ge=0, description="... or this far ahead.")

    def latest_allowed(self, today: date) -> date:
        return today + timedelta(days=self.max_days_ahead)

    def earliest_allowed(self, today: date) -> date:
        return today - timedelta(days=self.max_days_back)

    def transfer_window(self, today: date) -> tuple[date, date]:
        return today - timedelta(days=self.transfer_max_days_back), today + timedelta(days=self.transfer_max_days_ahead)

    def too_late(self, day: date, today: date) -> str | None:
        """Why a registration, ending, update, withdrawal or answer dated `day` is refused (rule 15), or None."""
        latest = self.latest_allowed(today)
        return f"{day} lies beyond {latest}, the latest date allowed" if day > latest else None

    def in_transfer_window(self, effective_on: date, today: date) -> bool:
        """A transfer takes effect neither so long ago that it rewrites closed months nor too far ahead (rule 9)."""
        first, last = self.transfer_window(today)
        return first <= effective_on <= last


def _doorstroom_cycle(pairs: dict[str, tuple[str, ...]]) -> list[str]:
    """A cycle in the doorstroom pairs (first care form repeated at the end), or [] when there is none."""
    done: set[str] = set()

    def visit(care_form: str, path: list[str]) -> list[str]:
        if care_form in path:
            return [*path[path.index(care_form) :], care_form]
        if care_form in done:
            return []
        for target in pairs.get(care_form, ()):
            found = visit(target, [*path, care_form])
            if found:
                return found
        done.add(care_form)
        return []

    for source in sorted(pairs):
        found = visit(source, [])
        if found:
            return found
    return []


class Region(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: RegionCode
    name: str
    centre_municipality: MunicipalityCode
    municipalities: dict[str, Municipality]
    responsibility: ResponsibilityPolicy
    care_forms: dict[str, CareFormSpec] = Field(default_factory=_standard_care_forms)
    placement: PlacementPolicy = Field(default_factory=PlacementPolicy)
    housing: HousingPolicy = Field(default_factory=HousingPolicy)
    money: MoneyPolicy = Field(default_factory=MoneyPolicy)
    reporting: ReportingPolicy = Field(default_factory=ReportingPolicy)
    dates: DatePolicy = Field(default_factory=DatePolicy)
    national: dict[str, Municipality] = Field(description="Every municipality of the country, by code.")

    @model_validator(mode="after")
    def _care_forms_consistent(self) -> "Region":
        for source, targets in self.placement.doorstroom.items():
            unknown = [c for c in (source, *targets) if c not in self.care_forms]
            if unknown:
                raise ValueError(f"placement.doorstroom names care forms the region lacks: {unknown}")
        cycle = _doorstroom_cycle(self.placement.doorstroom)
        if cycle:  # a client could move round and round; matchers need a lock order (target before source)
            raise ValueError(f"placement.doorstroom has a cycle: {' -> '.join(cycle)}")
        return self

    def in_region(self, code: str) -> bool:
        return code in self.municipalities

    def known(self, code: str) -> bool:
        return code in self.national

    def care_form(self, code: str) -> CareFormSpec:
        """The region's care form by code; KeyError names the codes the region has."""
        try:
            return self.care_forms[code]
        except KeyError:
            raise KeyError(f"{code} is not a care form of region {self.code}: {sorted(self.care_forms)}") from None

    def has_care_form(self, code: str) -> bool:
        return code in self.care_forms
