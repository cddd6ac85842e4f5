"""Small numbers: base cells rounded at random to base 5, the same way every time, and every shown figure
the sum of the rounded cells it covers; worked out by hand."""

from datetime import date

from pytest import approx

from tests.unit.test_flows import ALMERE, LELYSTAD, REGION, URK, facts, placed, reg
from zorgstroom_reporting.domain.disclosure import (
    DAYS_BASE,
    Rounding,
    coin,
    protect_days,
    protect_flows,
    protect_matrix,
    round_cell,
)
from zorgstroom_reporting.domain.facts import Facts, Transfer
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, monthly_flows, monthly_tallies, totals
from zorgstroom_reporting.domain.money import ClientDays, in_place
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.domain.offers import housing_rows
from zorgstroom_reporting.domain.solidarity import monthly_matrix

SECRET = b"k" * 32
PROTECTED = Rounding(SECRET)
JAN, DEC = Month(2027, 1), Month(2027, 12)


def test_a_count_rounds_down_or_up_to_base_5_with_the_remainder_as_the_chance_of_up() -> None:
    # 7 = 5 + 2: up when u < 2/5
    assert (round_cell(7, 0.39), round_cell(7, 0.4), round_cell(7, 0.9)) == (10, 5, 5)
    # 4 = 0 + 4: up when u < 4/5; 1: up when u < 1/5
    assert (round_cell(4, 0.79), round_cell(4, 0.8), round_cell(1, 0.19), round_cell(1, 0.2)) == (5, 0, 5, 0)
    assert [round_cell(v, 0.0) for v in (0, 5, 10, 25)] == [0, 5, 10, 25]  # 0 and multiples of 5 stay
    assert round_cell(130, 0.5, DAYS_BASE) == 100 and round_cell(130, 0.29, DAYS_BASE) == 200


def test_rounding_is_unbiased_over_the_coin() -> None:
    coins = [(i + 0.5) / 1000 for i in range(1000)]
    assert [sum(round_cell(v, u) for u in coins) / 1000 for v in (1, 3, 4, 12)] == [1, 3, 4, 12]


def test_the_same_cell_rounds_the_same_way_twice_and_another_key_flips_other_coins() -> None:
    cell = ("registrations", URK, "2027-03", "BW_24H", None)
    assert coin(SECRET, cell) == coin(SECRET, cell) and 0 <= coin(SECRET, cell) < 1
    assert PROTECTED.count(cell, 3) == Rounding(SECRET).count(cell, 3)
    other_cells = [("registrations", URK, f"2027-{m:02d}", "BW_24H", None) for m in range(1, 13)]
    assert [coin(SECRET, c) for c in other_cells] != [coin(b"x" * 32, c) for c in other_cells]


def test_every_shown_total_is_the_sum_of_the_shown_months_groups_and_care_forms() -> None:
    tallies = monthly_tallies(facts(), ALMERE, JAN, DEC, REGION)
    months = protect_flows(tallies, ALMERE, PROTECTED, REGION, 5)
    period = totals(months)
    for column in COUNT_COLUMNS:
        assert period.total[column] == sum(f.total[column] for f in months.values())
        for f in months.values():
            assert f.total[column] % 5 == 0
            assert f.total[column] == sum(f.by_care_form[c][column] for c in REGION.care_forms)
            assert f.total[column] == sum(f.by_group[g][column] for g in ("BW", "MO"))
    for column in STATE_COLUMNS:
        assert period.total[column] == months[DEC].total[column]
    assert sum(period.ended_other_by_reason.values()) == period.total["ended_other"]


def test_the_responsible_municipality_sees_its_own_figures_exactly() -> None:
    tallies = monthly_tallies(facts(), ALMERE, JAN, DEC, REGION)
    assert protect_flows(tallies, ALMERE, Rounding(SECRET, exact=True), REGION, 5) == monthly_flows(
        facts(), ALMERE, JAN, DEC, REGION
    )


def test_a_median_of_fewer_clients_than_the_threshold_is_withheld() -> None:
    tallies = monthly_tallies(facts(), ALMERE, JAN, DEC, REGION)
    months = protect_flows(tallies, ALMERE, PROTECTED, REGION, 5)
    exact = monthly_flows(facts(), ALMERE, JAN, DEC, REGION)
    assert exact[JAN].total["waiting_days_median"] == 10.0  # one person's wait
    assert months[JAN].total["waiting_days_median"] is None and months[JAN].total["waiting_days_p90"] is None
    assert months[JAN].total["inflow"] in (0, 5) and exact[JAN].total["inflow"] == 1


def test_both_sides_of_a_transfer_round_in_one_cell() -> None:
    f = Facts(
        registrations=[reg(n, "2027-01-05") for n in range(1, 4)],
        transfers=[Transfer(f"c{n}", URK, date(2027, 2, 1), ALMERE, (f"i{n}",)) for n in range(1, 4)],
    )
    for secret in (b"a" * 32, b"b" * 32, b"c" * 32, b"d" * 32):
        rounding = Rounding(secret)
        out = totals(protect_flows(monthly_tallies(f, ALMERE, JAN, DEC, REGION), ALMERE, rounding, REGION, 5))
        into = totals(protect_flows(monthly_tallies(f, URK, JAN, DEC, REGION), URK, rounding, REGION, 5))
        assert out.total["transfers_out"] == into.total["transfers_in"] in (0, 5)


def test_first_placements_in_the_matrix_round_in_the_inflows_cells() -> None:
    f = Facts(
        registrations=[reg(n, "2027-01-05") for n in range(1, 5)],
        placements=[placed(n, f"2027-0{n}-15", 3) for n in range(1, 5)],
    )
    for secret in (b"a" * 32, b"b" * 32, b"c" * 32):
        rounding = Rounding(secret)
        inflow = totals(protect_flows(monthly_tallies(f, ALMERE, JAN, DEC, REGION), ALMERE, rounding, REGION, 5))
        matrix = protect_matrix(monthly_matrix(f, JAN, DEC, date(2028, 1, 1)), rounding, Month(2028, 1))
        first = sum(c.inflow for (responsible, _), c in matrix.items() if responsible == ALMERE)
        assert first == inflow.total["inflow"] and all(c.client_days % DAYS_BASE == 0 for c in matrix.values())
        assert {k for k in matrix} <= {(ALMERE, LELYSTAD)}


def waiting_since_2025(k: int) -> Facts:
    """`k` clients of Almere who registered in January 2025 and still wait: a population that does not change."""
    return Facts(registrations=[reg(n, "2025-01-05") for n in range(1, k + 1)])


def test_a_stable_waiting_list_shows_one_figure_in_every_month_so_averaging_months_teaches_nothing() -> None:
    months = (Month(2025, 2), Month(2027, 12))
    for k in range(1, 5):
        for secret in (b"a" * 32, b"b" * 32, b"c" * 32, b"d" * 32, b"e" * 32):
            tallies = monthly_tallies(waiting_since_2025(k), ALMERE, *months, REGION)
            shown = protect_flows(tallies, ALMERE, Rounding(secret), REGION, 5)
            assert len(shown) == 35 and len({f.total["waiting_at_end"] for f in shown.values()}) == 1
            assert {f.total["waiting_at_end"] for f in shown.values()} <= {0, 5}


def test_one_more_client_on_the_list_gives_the_stock_a_coin_of_its_own() -> None:
    # Over many keys, two and three waiting clients round alike and apart: the coins are not one coin.
    def shown(k: int, secret: bytes) -> int:
        tallies = monthly_tallies(waiting_since_2025(k), ALMERE, JAN, JAN, REGION)
        return int(protect_flows(tallies, ALMERE, Rounding(secret), REGION, 5)[JAN].total["waiting_at_end"])

    keys = [n.to_bytes(2, "big") * 16 for n in range(400)]
    assert {(0, 5), (5, 0)} <= {(shown(2, key), shown(3, key)) for key in keys[:40]}
    assert sum(shown(2, key) for key in keys) / len(keys) == approx(2, abs=0.5)  # unbiased over the keys


def test_the_open_months_client_days_are_not_shown_and_closed_months_round_on_who_stayed() -> None:
    f = Facts(registrations=[reg(1, "2027-01-05")], placements=[placed(1, "2027-01-10", 5)])
    for secret in (b"a" * 32, b"b" * 32, b"c" * 32):
        rounding = Rounding(secret)
        by_month = [
            protect_matrix(monthly_matrix(f, m, m, date(2027, 9, 15)), rounding, Month(2027, 9))
            for m in (Month(2027, 3), Month(2027, 5), Month(2027, 7), Month(2027, 8), Month(2027, 9))
        ]
        days = [sum(c.client_days for c in matrix.values()) for matrix in by_month]
        assert days[4] == 0  # September is open: its nights so far (14) grow every night, and are not shown
        assert len(set(days[:4])) == 1 and days[0] in (0, 100)  # one client, 31 nights each month: one coin


def test_protected_budget_days_are_the_matrixs_closed_months_and_rounded_clients_times_the_nights_left() -> None:
    f = Facts(
        registrations=[reg(n, "2027-01-05") for n in range(1, 4)],
        placements=[placed(n, "2027-01-10", 5) for n in range(1, 4)],  # three clients, in place all year
    )
    cut = date(2027, 6, 1)
    for secret in (b"a" * 32, b"b" * 32, b"c" * 32):
        rounding = Rounding(secret)
        cells = monthly_matrix(f, JAN, DEC, cut)
        (almere,) = protect_days(cells, in_place(f, cut), 2027, cut, rounding).values()
        matrix = protect_matrix(monthly_matrix(f, JAN, Month(2027, 6), cut), rounding, Month(2027, 6))
        assert almere.realised == {"BW_24H": matrix[(ALMERE, LELYSTAD)].client_days}  # the matrix's, January-May
        assert almere.projected["BW_24H"] in (0, 5 * 214)  # 3 clients shown as 0 or 5, June to December
        exact = protect_days(cells, in_place(f, cut), 2027, cut, Rounding(secret, exact=True))[ALMERE]
        assert exact == ClientDays({"BW_24H": 3 * 142}, {"BW_24H": 3 * 214})
    closed = date(2028, 1, 1)  # a closed year is all realised: the rounded day cells of its twelve months
    cells = monthly_matrix(f, JAN, DEC, closed)
    (year,) = protect_days(cells, in_place(f, closed), 2027, closed, PROTECTED).values()
    assert year.projected == {} and year.realised["BW_24H"] % DAYS_BASE == 0


def test_the_housing_report_sums_the_monthly_cells_and_counts_every_acceptance_against_the_quota() -> None:
    of_urk = {"corporation_id": "w", "municipality": URK, "quota_year": 2027}
    cells = [
        of_urk | {"month": "2027-03", "status": "accepted", "n": 2},
        of_urk | {"month": "2027-06", "status": "declined", "n": 1},
    ]
    quota = {("w", URK, 2027): 10}
    exact = housing_rows(cells, quota, Month(2027, 6), Month(2027, 6), lambda _, n: n)
    assert exact == [
        {"corporation_id": "w", "municipality": URK, "quota_year": 2027, "quota": 10, "offers_made": 1,
         "accepted": 0, "declined": 1, "lapsed": 0, "open": 0, "voided": 0, "quota_left": 8},
    ]  # fmt: skip
    shown = housing_rows(cells, quota, JAN, DEC, PROTECTED.count)
    used = PROTECTED.count(("offers", "w", URK, 2027, "2027-03", "accepted"), 2)
    assert shown[0]["accepted"] == used and shown[0]["quota_left"] == 10 - used
    assert shown[0]["offers_made"] == shown[0]["accepted"] + shown[0]["declined"]
