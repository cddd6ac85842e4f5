"""Cost against budget and the regional settlement, worked out by hand."""

from datetime import date

import pytest

from zorgstroom_reporting.domain.flows import Facts, PlacementFact, Transfer
from zorgstroom_reporting.domain.money import MoneyPolicy, Shares, client_days, settle

ALMERE, URK = "0034", "0184"
POLICY = MoneyPolicy(
    tariffs={"BW_24H": 200.0, "MO_24H": 100.0},
    national_budget={2027: 1_000_000.0},
    shares={ALMERE: Shares(0.02, 0.01), URK: Shares(0.002, 0.004)},
    phase_in_start=2027,
    phase_in_years=4,
)


def stay(n: int, start: str, end: str | None, care_form: str = "BW_24H", who: str = ALMERE) -> PlacementFact:
    return PlacementFact(
        f"p{n}", f"i{n}", f"c{n}", who, "0034", date.fromisoformat(start), 0,
        date.fromisoformat(end) if end else None, "21" if end else None, care_form,
    )  # fmt: skip


def test_the_share_moves_from_historical_to_objective_over_the_phase_in() -> None:
    assert [round(POLICY.share(ALMERE, y), 4) for y in (2026, 2027, 2028, 2030, 2035)] == [
        0.02,
        0.0175,
        0.015,
        0.01,
        0.01,
    ]


def test_client_days_count_nights_within_the_year_and_follow_a_transfer() -> None:
    facts = Facts(
        placements=[
            stay(1, "2026-12-01", "2027-01-11"),  # 10 nights in 2027
            stay(2, "2027-12-22", None, "MO_24H"),  # open: 10 nights to the end of 2027
            stay(3, "2027-03-01", "2027-03-31", who=URK),  # 30 nights, Almere's from 21 March
        ],
        transfers=[Transfer("c3", ALMERE, date(2027, 3, 21))],
    )
    assert client_days(facts, 2027) == {ALMERE: {"BW_24H": 20, "MO_24H": 10}, URK: {"BW_24H": 20}}


def test_the_settlement_is_budget_neutral_and_charges_who_spent_less_than_their_budget() -> None:
    facts = Facts(placements=[stay(1, "2027-01-01", None), stay(2, "2027-01-01", "2027-01-21", who=URK)])
    almere, urk = settle(POLICY, [ALMERE, URK], facts, 2027)
    assert (almere.budget_eur, almere.cost_eur) == (17_500.0, 73_000.0)  # 0.0175 x 1M; 365 x 200
    assert (urk.budget_eur, urk.cost_eur) == (2_500.0, 4_000.0)  # 0.0025 x 1M; 20 x 200
    # The region lacks 57,000; shared by budget (87.5% / 12.5%): Almere bears 49,875 and Urk 7,125.
    assert almere.settlement_eur == pytest.approx(17_500 - 73_000 + 49_875)
    assert urk.settlement_eur == pytest.approx(2_500 - 4_000 + 7_125)
    assert almere.settlement_eur + urk.settlement_eur == pytest.approx(0.0)
