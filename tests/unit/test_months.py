"""Months of a flow report."""

from datetime import date

import pytest

from zorgstroom_reporting.queries.months import FlowReport, Month, months_between


def test_a_period_lists_every_month_across_a_year_end() -> None:
    assert [str(m) for m in months_between(Month.parse("2026-11"), Month.parse("2027-02"))] == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]


@pytest.mark.parametrize("text", ["2027-13", "2027-1", "27-01", "abcd-ef", "2027-00"])
def test_malformed_months_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse(text)


def test_a_report_has_a_row_for_every_month_and_totals() -> None:
    report = FlowReport("0034", Month(2027, 1), Month(2027, 3))
    report.counts[Month.of(date(2027, 2, 14))] = {"registrations": 4}
    shaped = report.as_json()
    assert [m["registrations"] for m in shaped["months"]] == [0, 4, 0]  # type: ignore[index]
    assert shaped["totals"] == {"registrations": 4}
