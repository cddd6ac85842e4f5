"""Cost against budget (DOMAIN.md "Money"): client-days x tariff for each responsible municipality, its
budget under the distribution model with its phase-in (ingroeipad), and the regional settlement.

Every parameter is region data. The settlement follows from budget neutrality: each municipality puts
its budget into the regional pot, the pot pays every municipality's costs, and what the region as a
whole has left (or lacks) is shared in proportion to the budgets. What a municipality pays into the pot
(positive) or receives from it (negative) therefore sums to zero over the region.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from zorgstroom_reporting.domain.flows import Facts, Responsibility


@dataclass(frozen=True)
class Shares:
    historical: float
    objective: float


@dataclass(frozen=True)
class MoneyPolicy:
    tariffs: Mapping[str, float]  # EUR per etmaal, per care form
    national_budget: Mapping[int, float]  # EUR per year for BW and MO together
    shares: Mapping[str, Shares]  # per municipality, of the national budget
    phase_in_start: int
    phase_in_years: int

    def share(self, municipality: str, year: int) -> float:
        """share(y) = h + (o - h) x min(1, max(0, (y - Y + 1) / N))."""
        s = self.shares[municipality]
        progress = min(1.0, max(0.0, (year - self.phase_in_start + 1) / self.phase_in_years))
        return s.historical + (s.objective - s.historical) * progress

    def budget(self, municipality: str, year: int) -> float:
        return self.share(municipality, year) * self.national_budget.get(year, 0.0)


@dataclass(frozen=True)
class MunicipalityMoney:
    municipality: str
    year: int
    share: float
    budget_eur: float
    client_days: dict[str, int]
    cost_eur: float
    settlement_eur: float  # positive: pays into the regional pot; negative: receives from it

    @property
    def balance_eur(self) -> float:
        return self.budget_eur - self.cost_eur


def client_days(facts: Facts, year: int) -> dict[str, dict[str, int]]:
    """Days in a place in `year` per responsible municipality and care form (the last day not counted, as
    an etmaal is a night). An open placement counts to the end of the year; responsibility follows
    transfers from their effective date."""
    who = Responsibility(facts.transfers)
    first, after = date(year, 1, 1), date(year + 1, 1, 1)
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in facts.placements:
        if p.start_date is None or p.care_form is None:
            continue
        start, end = max(p.start_date, first), min(p.end_date or after, after)
        day = start
        while day < end:
            # Walk the stay in runs that do not cross a transfer, one municipality per run.
            municipality = who.on(p.client_ref, p.responsible, day)
            run_end = min([end, *who.changes_after(p.client_ref, day)])
            days[municipality][p.care_form] += (run_end - day).days
            day = run_end
    return {m: dict(v) for m, v in days.items()}


def settle(policy: MoneyPolicy, municipalities: Iterable[str], facts: Facts, year: int) -> list[MunicipalityMoney]:
    used = client_days(facts, year)
    rows = []
    for m in municipalities:
        days = used.get(m, {})
        cost = sum(n * policy.tariffs.get(form, 0.0) for form, n in days.items())
        rows.append((m, policy.share(m, year), policy.budget(m, year), days, cost))
    total_budget = sum(r[2] for r in rows)
    total_cost = sum(r[4] for r in rows)
    surplus = total_budget - total_cost
    return [
        MunicipalityMoney(
            municipality=m,
            year=year,
            share=share,
            budget_eur=round(budget, 2),
            client_days=days,
            cost_eur=round(cost, 2),
            settlement_eur=round(budget - cost - (surplus * budget / total_budget if total_budget else 0.0), 2),
        )
        for m, share, budget, days, cost in rows
    ]
