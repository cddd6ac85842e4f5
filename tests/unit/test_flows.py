"""Monthly flows worked out by hand from a few facts, including ones that arrived out of order."""

from datetime import date

from zorgstroom_reporting.domain.flows import (
    Assessment,
    Facts,
    Outflow,
    PlacementFact,
    Registration,
    Transfer,
    monthly_flows,
    region_matrix,
    totals,
)
from zorgstroom_reporting.queries.months import Month

ALMERE, URK = "0034", "0184"


def reg(n: int, on: str, who: str = ALMERE) -> Registration:
    return Registration(f"i{n}", f"c{n}", who, date.fromisoformat(on))


def placed(n: int, start: str, waited: int, end: str | None = None, reason: str | None = None) -> PlacementFact:
    return PlacementFact(
        f"p{n}",
        f"i{n}",
        f"c{n}",
        ALMERE,
        "0995",
        date.fromisoformat(start),
        waited,
        date.fromisoformat(end) if end else None,
        reason,
    )


def facts() -> Facts:
    """c1 placed in Jan and housed in Mar; c2 placed in Feb and left in Mar (reason 21); c3 still waits;
    c1 registers again in Jun (a relapse); c4 is Urk's."""
    return Facts(
        registrations=[
            reg(1, "2027-01-05"),
            reg(2, "2027-01-10"),
            reg(3, "2027-02-01"),
            reg(4, "2027-01-20", URK),
            Registration("i5", "c1", ALMERE, date(2027, 6, 1)),
        ],
        placements=[placed(1, "2027-01-15", 10, "2027-03-31", "19"), placed(2, "2027-02-10", 31, "2027-03-10", "21")],
        outflows=[Outflow("p1", "c1", ALMERE, date(2027, 3, 31))],
        assessments=[
            Assessment("p1", date(2027, 2, 1), False),
            Assessment("p1", date(2027, 2, 20), True),
            Assessment("p1", date(2027, 3, 1), True),
        ],
    )


def column(months: dict[Month, dict[str, float | int | None]], name: str) -> list[float | int | None]:
    return [months[m][name] for m in sorted(months)]


def test_every_flow_is_counted_in_the_month_of_its_business_date() -> None:
    months = monthly_flows(facts(), ALMERE, Month(2027, 1), Month(2027, 6))
    assert column(months, "registrations") == [2, 1, 0, 0, 0, 1]
    assert column(months, "inflow") == [1, 1, 0, 0, 0, 0]
    assert column(months, "outflow") == [0, 0, 1, 0, 0, 0]
    assert column(months, "ended_other") == [0, 0, 1, 0, 0, 0]  # the 19 with an outflow is not "other"
    assert column(months, "waiting_at_end") == [1, 1, 1, 1, 1, 2]  # c2 in Jan; c3 from Feb; c1 again in Jun
    assert column(months, "relapses") == [0, 0, 0, 0, 0, 1]
    assert column(months, "waiting_days_median") == [10.0, 31.0, None, None, None, None]
    assert column(months, "stay_days_median") == [None, None, 51.5, None, None, None]  # 75 and 28 days


def test_ready_but_not_housed_is_a_state_at_month_end_with_its_duration() -> None:
    months = monthly_flows(facts(), ALMERE, Month(2027, 1), Month(2027, 3))
    assert column(months, "ready_not_housed_at_end") == [0, 1, 0]  # housed on the last day of March
    assert months[Month(2027, 2)]["ready_not_housed_days_median"] == 8.0  # ready since 20 Feb


def test_totals_add_counts_and_take_states_at_the_end() -> None:
    total = totals(monthly_flows(facts(), ALMERE, Month(2027, 1), Month(2027, 6)))
    assert total == {
        "registrations": 4,
        "inflow": 2,
        "outflow": 1,
        "ended_other": 1,
        "relapses": 1,
        "transfers_in": 0,
        "transfers_out": 0,
        "waiting_at_end": 2,
        "ready_not_housed_at_end": 0,
    }


def test_a_transfer_moves_a_waiting_client_to_the_new_municipality_from_its_date() -> None:
    moved = facts()
    moved.transfers.append(Transfer("c3", URK, date(2027, 4, 15)))
    almere = monthly_flows(moved, ALMERE, Month(2027, 3), Month(2027, 4))
    urk = monthly_flows(moved, URK, Month(2027, 3), Month(2027, 4))
    assert column(almere, "waiting_at_end") == [1, 0]
    assert column(urk, "waiting_at_end") == [1, 2]  # c4, and c3 from 15 April


def test_an_ending_that_arrived_before_its_placement_counts_once_the_placement_is_known() -> None:
    early = Facts(
        registrations=[reg(7, "2027-01-02")],
        placements=[PlacementFact("p7", None, "c7", ALMERE, None, None, None, date(2027, 2, 1), "22")],
    )
    months = monthly_flows(early, ALMERE, Month(2027, 1), Month(2027, 2))
    assert column(months, "inflow") == [0, 0] and column(months, "ended_other") == [0, 1]
    complete = Facts(registrations=early.registrations, placements=[placed(7, "2027-01-03", 1, "2027-02-01", "22")])
    months = monthly_flows(complete, ALMERE, Month(2027, 1), Month(2027, 2))
    assert column(months, "inflow") == [1, 0] and column(months, "ended_other") == [0, 1]


def test_the_matrix_counts_placements_by_responsible_and_facility_municipality() -> None:
    assert region_matrix(facts(), Month(2027, 1), Month(2027, 12)) == {(ALMERE, "0995"): 2}
