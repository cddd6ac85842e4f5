"""Months: the period unit of every report; pure calendar arithmetic."""

from dataclasses import dataclass
from datetime import date

# Reports start in 2000 (the budget year starts there too); a year before it is a typo, not a question.
FIRST_YEAR = 2000


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Month":
        year, _, month = text.partition("-")
        if len(year) != 4 or len(month) != 2 or not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
            raise ValueError(f"{text!r} is not a month in the form YYYY-MM")
        if int(year) < FIRST_YEAR:
            raise ValueError(f"{text!r} lies before {FIRST_YEAR}, the first year reported on")
        return cls(int(year), int(month))

    @classmethod
    def of(cls, day: date) -> "Month":
        return cls(day.year, day.month)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def last_day(self) -> date:
        return date.fromordinal(self.next().first_day().toordinal() - 1)

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
