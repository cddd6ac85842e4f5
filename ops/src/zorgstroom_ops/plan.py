"""The plan of a simulation, pure: which months it covers, its years and weeks, the quota years, when
transfers may be made, and the ILLUSTRATIVE rates of relapse, doorstroom, withdrawal and transfer.

The simulated period always ends today (business dates never lie in the future: the services refuse
them, docs/domain.md, 'Dates') and starts on the first day of the month `12 * years - 1` months earlier, so
the dashboard, which opens on the latest month with data, shows numbers at once.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from zorgstroom_contracts.region import DatePolicy, add_months


@dataclass(frozen=True)
class Rates:
    """How often the things a region lives with happen. ILLUSTRATIVE: no source gives these numbers for
    Flevoland; they are chosen so that each shows in a year's report."""

    relapse: float = 0.15  # of clients who flowed out to a home, the share who register again within 12 months
    doorstroom: float = 0.35  # of emergency and night shelter clients, the share also registered for 24-hour/BW
    doorstroom_to_bw: float = 0.3  # of those, the share registered for BW_24H (the rest for MO_24H)
    withdrawal: float = 0.08  # of registrations, the share withdrawn if still waiting when their day comes
    transfer: float = 0.04  # of shelter registrations of the last three months, the share proposed in the last month


ILLUSTRATIVE_RATES = Rates()


@dataclass(frozen=True)
class SimulatedYear:
    first: date
    last: date

    @property
    def label(self) -> str:
        return f"{self.first:%Y-%m} .. {self.last:%Y-%m}"


@dataclass(frozen=True)
class Period:
    """The months a simulation covers: `years` times twelve, the last of them the current month, cut at
    `today`."""

    first: date
    today: date
    years: int

    @classmethod
    def ending(cls, today: date, years: int) -> "Period":
        if years < 1:
            raise ValueError("a simulation covers at least one year")
        return cls(add_months(today.replace(day=1), -(12 * years - 1)), today, years)

    def simulated_years(self) -> list[SimulatedYear]:
        """Each twelve months of the period in order; the last ends today."""
        starts = [add_months(self.first, 12 * n) for n in range(self.years)]
        ends = [s - timedelta(days=1) for s in starts[1:]] + [self.today]
        return [SimulatedYear(s, e) for s, e in zip(starts, ends, strict=True)]

    def weeks(self) -> list[tuple[date, date]]:
        """Seven-day steps from the first day; the last one cut at today."""
        steps, first = [], self.first
        while first <= self.today:
            steps.append((first, min(first + timedelta(days=6), self.today)))
            first += timedelta(days=7)
        return steps

    def quota_years(self) -> list[int]:
        """Every calendar year the period touches: each gets its housing quotas."""
        return list(range(self.first.year, self.today.year + 1))

    def last_month(self) -> date:
        return self.today.replace(day=1)

    def transfer_days(self, dates: DatePolicy) -> tuple[date, date]:
        """The days on which the simulation proposes transfers: the period's last month, within the
        region's transfer window around the wall-clock date (placement refuses other effective dates)."""
        earliest, _ = dates.transfer_window(self.today)
        return max(self.last_month(), earliest), self.today


def draw(seed: int, *parts: object) -> random.Random:
    """A generator for one decision, seeded by what it concerns: the same run decides the same way."""
    return random.Random("-".join(map(str, (seed, *parts))))


def clamp(day: date, first: date, last: date) -> date:
    return max(first, min(day, last))


RELAPSE_DAYS = (7, 300)  # after the outflow: well within the 12 calendar months of docs/domain.md, 'Relapse'


def relapse_on(seed: int, client_ref: str, outflow_on: date, rates: Rates = ILLUSTRATIVE_RATES) -> date | None:
    """The day a client who flowed out around `outflow_on` registers again, or None: for the
    `rates.relapse` share, 7 to 300 days later, so a relapse even when the simulation learns of the
    outflow (a placement gone from its provider's list) a week or two after it happened."""
    rng = draw(seed, "relapse", client_ref, outflow_on)
    if rng.random() >= rates.relapse:
        return None
    return outflow_on + timedelta(days=rng.randint(*RELAPSE_DAYS))


def doorstroom_to(seed: int, placement_id: str, care_form: str, rates: Rates = ILLUSTRATIVE_RATES) -> str | None:
    """The care form an emergency or night shelter client is also registered for, or None."""
    if care_form not in ("MO_EMERGENCY", "MO_NIGHT"):
        return None
    rng = draw(seed, "doorstroom", placement_id)
    if rng.random() >= rates.doorstroom:
        return None
    return "BW_24H" if rng.random() < rates.doorstroom_to_bw else "MO_24H"


def withdrawal_on(seed: int, key: str, registered_on: date, rates: Rates = ILLUSTRATIVE_RATES) -> date | None:
    """The day a registration is withdrawn if it is still waiting then, or None."""
    rng = draw(seed, "withdrawal", key)
    if rng.random() >= rates.withdrawal:
        return None
    return registered_on + timedelta(days=rng.randint(20, 120))


def proposes_transfer(seed: int, key: str, rates: Rates = ILLUSTRATIVE_RATES) -> bool:
    return draw(seed, "transfer", key).random() < rates.transfer
