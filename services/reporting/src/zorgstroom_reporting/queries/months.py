"""Month arithmetic and the shape of a flow report; no I/O."""

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Month":
        year, _, month = text.partition("-")
        if len(year) != 4 or len(month) != 2 or not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
            raise ValueError(f"{text!r} is not a month in the form YYYY-MM")
        return cls(int(year), int(month))

    @classmethod
    def of(cls, day: date) -> "Month":
        return cls(day.year, day.month)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> "Month":
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_between(start: Month, end: Month) -> list[Month]:
    months, current = [], start
    while current <= end:
        months.append(current)
        current = current.next()
    return months


Value = float | int | None


@dataclass
class FlowReport:
    """One municipality's months (every column of DESIGN.md's report shape) and the period's totals."""

    municipality: str
    start: Month
    end: Month
    months: dict[Month, dict[str, Value]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[dict[str, str | Value]]:
        """One row per month of the period: the JSON `months` and the CSV lines."""
        return [{"month": str(m), **self.months.get(m, {})} for m in months_between(self.start, self.end)]

    def as_json(self) -> dict[str, object]:
        return {
            "municipality": self.municipality,
            "from": str(self.start),
            "to": str(self.end),
            "months": self.rows(),
            "totals": self.totals,
        }
