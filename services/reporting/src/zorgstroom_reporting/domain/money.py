"""Cost against budget (docs/domain.md "Money"): client-days x tariff for each responsible municipality,
its budget under the distribution model with its phase-in (MoneyPolicy.share), and the regional settlement.

Every parameter is region data (zorgstroom_contracts.region.MoneyPolicy). The settlement follows from
budget neutrality: each municipality puts its budget into the regional pot, the pot pays the costs each
municipality bears, and what the region as a whole has left (or lacks) is shared in proportion to the
budgets. What a municipality pays into the pot (positive) or receives from it (negative) sums to zero, to
the cent. Who bears MO cost follows `mo_funding`; clients of municipalities outside the region are costs
to recover, outside the settlement.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from zorgstroom_contracts.region import CareFormGroup, MoFunding, MoneyPolicy, Region
from zorgstroom_reporting.domain.facts import Facts
from zorgstroom_reporting.domain.responsibility import Responsibility


class NoBudgetForYear(LookupError):
    """A year without national budget data: an error that names the year, never a silent zero."""

    def __init__(self, year: int) -> None:
        super().__init__(f"the region has no national budget data for {year}")
        self.year = year


@dataclass(frozen=True)
class ClientDays:
    """Nights in a place per care form: realised (ended stays, and open stays up to the report date) and
    projected (open stays from the report date to the year's end)."""

    realised: dict[str, int]
    projected: dict[str, int]

    @property
    def total(self) -> dict[str, int]:
        return dict(sorted((Counter(self.realised) + Counter(self.projected)).items()))


@dataclass(frozen=True)
class Cost:
    municipality: str
    year: int
    days: ClientDays
    realised_eur: float
    projected_eur: float
    mo_eur: float  # of it, shelter (MO)

    @property
    def total_eur(self) -> float:
        return self.realised_eur + self.projected_eur


@dataclass(frozen=True)
class MunicipalityMoney:
    cost: Cost
    share: float
    budget_eur: float
    borne_eur: float  # the cost it bears in the settlement (its own, less MO where the centre holds MO funding)
    settlement_eur: float  # positive: pays into the regional pot; negative: receives from it

    @property
    def balance_eur(self) -> float:
        return self.budget_eur - self.borne_eur


@dataclass(frozen=True)
class Settlement:
    year: int
    as_of: date  # realised up to this day, projected after it
    municipalities: list[MunicipalityMoney]
    to_recover: list[Cost]  # per responsible municipality outside the region


def client_days(facts: Facts, year: int, as_of: date) -> dict[str, ClientDays]:
    """Nights in a place in `year` per responsible municipality and care form; responsibility follows
    transfers of the episode from their effective date."""
    who = Responsibility(facts.transfers, facts.registrations)
    first, after = date(year, 1, 1), date(year + 1, 1, 1)
    realised: dict[str, Counter[str]] = defaultdict(Counter)
    projected: dict[str, Counter[str]] = defaultdict(Counter)
    for p in facts.placements:
        if p.start_date is None or p.care_form is None:
            continue
        cut = after if p.end_date else min(max(as_of, first), after)
        for municipality, nights in who.runs(p, first, cut):
            realised[municipality][p.care_form] += nights
        for municipality, nights in who.runs(p, cut, after):
            projected[municipality][p.care_form] += nights
    return {
        m: ClientDays(dict(sorted(realised[m].items())), dict(sorted(projected[m].items())))
        for m in sorted(set(realised) | set(projected))
    }


def in_place(facts: Facts, day: date) -> dict[tuple[str, str], list[str]]:
    """The clients in a place the night before `day`, per responsible municipality (on that night) and care form:
    those a protected projection from `day` to the year's end counts (domain/disclosure.py)."""
    who = Responsibility(facts.transfers, facts.registrations)
    night = day - timedelta(days=1)
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in facts.placements:
        if p.start_date and p.care_form and p.start_date <= night and (p.end_date is None or p.end_date > night):
            found[(who.on(p.client_ref, p.intake_id, p.responsible, night), p.care_form)].append(p.client_ref)
    return dict(found)


def _priced(region: Region, municipality: str, year: int, days: ClientDays) -> Cost:
    policy = region.money

    def eur(nights: dict[str, int], group: CareFormGroup | None = None) -> float:
        return sum(
            n * policy.tariff(form)
            for form, n in nights.items()
            if group is None or (region.has_care_form(form) and region.care_form(form).group is group)
        )

    return Cost(municipality, year, days, eur(days.realised), eur(days.projected), eur(days.total, CareFormGroup.MO))


def _borne(policy: MoneyPolicy, centre: str, costs: list[Cost]) -> list[float]:
    if policy.mo_funding is not MoFunding.CENTRE_MUNICIPALITY or centre not in [c.municipality for c in costs]:
        return [c.total_eur for c in costs]
    all_mo = sum(c.mo_eur for c in costs)
    return [c.total_eur - c.mo_eur + (all_mo if c.municipality == centre else 0.0) for c in costs]


def _in_cents(budgets: list[float], borne: list[float], holder: int) -> list[float]:
    """Budget minus borne cost minus the region's surplus in proportion to the budget, in whole cents; the
    cent that rounding leaves over goes to `holder`, so the settlement sums to exactly zero."""
    total_budget, surplus = sum(budgets), sum(budgets) - sum(borne)
    weights = [b / total_budget for b in budgets] if total_budget else [1 / len(budgets)] * len(budgets)
    cents = [round((b - c - surplus * w) * 100) for b, c, w in zip(budgets, borne, weights, strict=True)]
    cents[holder] -= sum(cents)
    return [c / 100 for c in cents]


def settle(
    region: Region, facts: Facts, year: int, as_of: date, shown: dict[str, ClientDays] | None = None
) -> Settlement:
    """The settlement of the year from the exact client-days up to `as_of`, or from `shown`, the client-days a
    viewer may see (rounded): then every euro follows from those, so the euros do not give the exact days back."""
    policy = region.money
    if not policy.has_budget(year):
        raise NoBudgetForYear(year)
    used = client_days(facts, year, as_of) if shown is None else shown
    empty = ClientDays({}, {})
    known = [m for m in region.municipalities if m in policy.shares]
    costs = [_priced(region, m, year, used.get(m, empty)) for m in known]
    budgets = [policy.budget(m, year) for m in known]
    borne = _borne(policy, region.centre_municipality, costs)
    holder = known.index(region.centre_municipality) if region.centre_municipality in known else 0
    settlements = _in_cents(budgets, borne, holder) if known else []
    municipalities = [
        MunicipalityMoney(cost, policy.share(cost.municipality, year), round(b, 2), round(c, 2), s)
        for cost, b, c, s in zip(costs, budgets, borne, settlements, strict=True)
    ]
    to_recover = [_priced(region, m, year, d) for m, d in used.items() if not region.in_region(m)]
    return Settlement(year, as_of, municipalities, to_recover)
