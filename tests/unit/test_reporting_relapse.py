"""Relapse as the monitors count it (docs/domain.md, rule 8), worked out by hand: one per outflow, within
12 calendar months after the outflow date (that day included), for the municipality of the outflow, in the
month of the new registration."""

from datetime import date
from pathlib import Path

import pytest

from zorgstroom_reporting.domain.facts import Facts, Outflow, PlacementFact, Registration, Transfer
from zorgstroom_reporting.domain.flows import monthly_flows
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.domain.relapse import is_relapse, relapses
from zorgstroom_reporting.domain.responsibility import Responsibility
from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
ALMERE, LELYSTAD, URK = "0034", "0995", "0184"
OUT = Outflow("p1", "c1", LELYSTAD, date(2027, 1, 31))


def again(on: str, n: int = 2, who: str = ALMERE, client: str = "c1") -> Registration:
    return Registration(f"i{n}", client, who, date.fromisoformat(on), "MO_24H")


@pytest.mark.parametrize(
    ("registered_on", "relapsed"),
    [
        ("2027-01-30", False),  # before the outflow
        ("2027-01-31", True),  # the outflow day itself: a failed outflow
        ("2028-01-30", True),  # the last day of the twelve months
        ("2028-01-31", False),  # the same day twelve months on
    ],
)
def test_the_window_is_twelve_calendar_months_from_the_outflow_day(registered_on: str, relapsed: bool) -> None:
    assert is_relapse(OUT, again(registered_on), 12) is relapsed


def test_the_end_of_a_month_is_not_clamped_to_the_28th() -> None:
    out = Outflow("p1", "c1", ALMERE, date(2027, 3, 31))
    assert is_relapse(out, again("2028-03-30"), 12) and not is_relapse(out, again("2028-03-31"), 12)
    # the old rule counted an outflow of 29 January 2027 for a registration on 31 January 2028
    assert not is_relapse(Outflow("p1", "c1", ALMERE, date(2027, 1, 29)), again("2028-01-31"), 12)


def test_another_clients_registration_is_no_relapse() -> None:
    assert not is_relapse(OUT, again("2027-03-01", client="c2"), 12)


def facts(*registrations: Registration, transfers: tuple[Transfer, ...] = ()) -> Facts:
    stay = PlacementFact("p1", "i1", "c1", LELYSTAD, LELYSTAD, date(2026, 6, 1), 0, date(2027, 1, 31), "19", "BW_24H")
    return Facts(
        registrations=[Registration("i1", "c1", LELYSTAD, date(2026, 5, 1), "BW_24H"), *registrations],
        placements=[stay],
        outflows=[OUT],
        transfers=list(transfers),
    )


def test_two_registrations_on_one_day_are_one_relapse() -> None:
    f = facts(again("2027-05-04", 2), again("2027-05-04", 3))
    (found,) = relapses(f, 12, Responsibility(f.transfers, f.registrations))
    assert found.registration.intake_id == "i2"


def test_a_relapse_belongs_to_the_municipality_of_the_outflow_in_the_month_of_the_new_registration() -> None:
    f = facts(again("2027-05-04", 2, who=ALMERE))  # Lelystad's outflow, registered again by Almere
    may = Month(2027, 5)
    lelystad = monthly_flows(f, LELYSTAD, Month(2027, 1), may, REGION)
    almere = monthly_flows(f, ALMERE, Month(2027, 1), may, REGION)
    assert [lelystad[m].total["relapses"] for m in sorted(lelystad)] == [0, 0, 0, 0, 1]
    assert lelystad[may].by_group["MO"]["relapses"] == 1  # the care form of the new registration
    assert sum(almere[m].total["relapses"] or 0 for m in almere) == 0
    assert almere[may].total["registrations"] == 1  # the registration itself is Almere's


def test_the_municipality_of_the_outflow_follows_a_transfer_of_that_episode() -> None:
    moved = Transfer("c1", URK, date(2026, 9, 1), LELYSTAD, ("i1",))
    f = facts(again("2027-05-04"), transfers=(moved,))
    (found,) = relapses(f, 12, Responsibility(f.transfers, f.registrations))
    assert found.municipality == URK
