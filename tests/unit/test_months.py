"""Months of a flow report."""

import pytest

from zorgstroom_reporting.domain.months import Month, months_between


def test_a_period_lists_every_month_across_a_year_end() -> None:
    assert [str(m) for m in months_between(Month.parse("2026-11"), Month.parse("2027-02"))] == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]


@pytest.mark.parametrize("text", ["2027-13", "2027-1", "27-01", "abcd-ef", "2027-00", "0000-01", "1999-12"])
def test_malformed_months_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"YYYY-MM|before 2000"):
        Month.parse(text)
