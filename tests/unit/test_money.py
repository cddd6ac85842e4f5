"""Cost against budget and the regional settlement, worked out by hand (docs/domain.md "Money")."""

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zorgstroom_contracts.region import BudgetShares, MoFunding, MoneyPolicy, Region
from zorgstroom_reporting.domain.facts import Facts, PlacementFact, Transfer
from zorgstroom_reporting.domain.money import NoBudgetForYear, client_days, settle
from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]
FLEVOLAND = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
ALMERE, URK, AMSTERDAM = "0034", "0184", "0363"
POLICY = MoneyPolicy(
    tariffs_eur_per_day={"BW_24H": 200.0, "MO_24H": 100.0},
    national_budget_eur={2027: 1_000_000.0},
    shares={
        ALMERE: BudgetShares(historical=0.02, objective=0.01),
        URK: BudgetShares(historical=0.002, objective=0.004),
    },
    phase_in_start_year=2027,
    phase_in_years=4,
)
END_OF_2026 = date(2026, 12, 31)  # nothing of 2027 has passed yet: open stays are all projection


def region(policy: MoneyPolicy = POLICY) -> Region:
    return FLEVOLAND.model_copy(update={"money": policy})


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
        transfers=[Transfer("c3", ALMERE, date(2027, 3, 21), URK, ("i3",))],
    )
    days = client_days(facts, 2027, END_OF_2026)
    assert {m: d.total for m, d in days.items()} == {ALMERE: {"BW_24H": 20, "MO_24H": 10}, URK: {"BW_24H": 20}}


def test_an_open_stay_is_realised_up_to_the_report_date_and_projected_to_the_years_end() -> None:
    facts = Facts(placements=[stay(1, "2027-06-01", None), stay(2, "2027-01-01", "2027-03-01")])
    (almere,) = client_days(facts, 2027, date(2027, 7, 1)).values()
    assert almere.realised == {"BW_24H": 30 + 59} and almere.projected == {"BW_24H": 184}  # 1 July to 31 Dec


def test_the_settlement_is_budget_neutral_and_charges_who_spent_less_than_their_budget() -> None:
    facts = Facts(placements=[stay(1, "2027-01-01", None), stay(2, "2027-01-01", "2027-01-21", who=URK)])
    almere, urk = settle(region(), facts, 2027, END_OF_2026).municipalities
    assert (almere.budget_eur, almere.cost.total_eur) == (17_500.0, 73_000.0)  # 0.0175 x 1M; 365 x 200
    assert (almere.cost.realised_eur, almere.cost.projected_eur) == (0.0, 73_000.0)  # open: all projection
    assert (urk.budget_eur, urk.cost.total_eur) == (2_500.0, 4_000.0)  # 0.0025 x 1M; 20 x 200 (ended: realised)
    # The region lacks 57,000; shared by budget (87.5% / 12.5%): Almere bears 49,875 and Urk 7,125.
    assert almere.settlement_eur == pytest.approx(17_500 - 73_000 + 49_875)
    assert urk.settlement_eur == pytest.approx(2_500 - 4_000 + 7_125)
    assert almere.settlement_eur + urk.settlement_eur == 0.0


def test_the_centre_municipality_bears_mo_cost_where_it_holds_the_mo_funding() -> None:
    # Urk's client spends 10 nights in MO_24H (1,000) and 10 in BW_24H (2,000); Almere has no client.
    facts = Facts(
        placements=[stay(1, "2027-02-01", "2027-02-11", "MO_24H", URK), stay(2, "2027-03-01", "2027-03-11", who=URK)]
    )
    centre = POLICY.model_copy(update={"mo_funding": MoFunding.CENTRE_MUNICIPALITY})
    almere, urk = settle(region(centre), facts, 2027, END_OF_2026).municipalities
    assert (urk.cost.total_eur, urk.cost.mo_eur, urk.borne_eur) == (3_000.0, 1_000.0, 2_000.0)
    assert (almere.cost.total_eur, almere.borne_eur) == (0.0, 1_000.0)
    # Budgets 17,500 and 2,500; surplus 20,000 - 3,000 = 17,000, shared 87.5% / 12.5%.
    assert almere.settlement_eur == 17_500 - 1_000 - 14_875 and urk.settlement_eur == 2_500 - 2_000 - 2_125
    shares = settle(region(), facts, 2027, END_OF_2026).municipalities
    assert [m.borne_eur for m in shares] == [0.0, 3_000.0]  # under `shares` each bears its own


def test_a_year_without_budget_data_is_an_error_that_names_the_year() -> None:
    with pytest.raises(NoBudgetForYear, match="2031"):
        settle(region(), Facts(), 2031, END_OF_2026)


def test_clients_of_a_municipality_outside_the_region_are_costs_to_recover_outside_the_settlement() -> None:
    facts = Facts(
        placements=[stay(1, "2027-01-01", "2027-01-11", "MO_24H", AMSTERDAM), stay(2, "2027-01-01", "2027-01-02")]
    )
    settlement = settle(region(), facts, 2027, END_OF_2026)
    (recover,) = settlement.to_recover
    assert (recover.municipality, recover.days.total, recover.total_eur) == (AMSTERDAM, {"MO_24H": 10}, 1_000.0)
    assert sum(round(m.settlement_eur * 100) for m in settlement.municipalities) == 0


@given(
    nights=st.lists(st.tuples(st.sampled_from([ALMERE, URK]), st.integers(0, 364), st.integers(1, 400)), max_size=8),
    budget=st.floats(0, 5e9, allow_nan=False),
    tariff=st.floats(0, 1_000, allow_nan=False),
)
def test_the_settlement_sums_to_zero_to_the_cent_whatever_the_numbers(
    nights: list[tuple[str, int, int]], budget: float, tariff: float
) -> None:
    policy = POLICY.model_copy(
        update={"national_budget_eur": {2027: budget}, "tariffs_eur_per_day": {"BW_24H": tariff}}
    )
    placements = [
        PlacementFact(f"p{i}", None, f"c{i}", who, ALMERE, date.fromordinal(date(2027, 1, 1).toordinal() + start),
                      0, date.fromordinal(date(2027, 1, 1).toordinal() + start + length), "21", "BW_24H")
        for i, (who, start, length) in enumerate(nights)
    ]  # fmt: skip
    money = settle(region(policy), Facts(placements=placements), 2027, END_OF_2026).municipalities
    assert sum(round(m.settlement_eur * 100) for m in money) == 0
