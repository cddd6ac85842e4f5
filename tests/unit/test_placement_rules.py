"""Placement's rules as named pure functions, with numbers worked out by hand: the wijk cap on places
(docs/domain.md, rule 4), where a care form's facility lies, doorstroom (rule 10), dates (rules 9 and 15),
transfers taking effect (rule 9) and a registration's update (rule 11)."""

from datetime import date

from tests.support.infra import ROOT
from zorgstroom_contracts.codes import Need, TransferReason, Urgency
from zorgstroom_contracts.region import DatePolicy, PlacementPolicy
from zorgstroom_placement.domain.doorstroom import doorstroom_day, may_be_matched, may_wait_for_doorstroom
from zorgstroom_placement.domain.facilities import Facility, site_problem, wijk_has_room, wijk_place_changes
from zorgstroom_placement.domain.transfers import Transfer, takes_effect
from zorgstroom_placement.domain.waiting_list import Registration, WaitingClient, one_entry_per_client
from zorgstroom_runtime.region import load_region

REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")


def test_a_wijk_takes_places_up_to_its_cap_and_not_one_more() -> None:
    assert wijk_has_room(places_now=50, added=10, cap=60)  # 60 <= 60
    assert not wijk_has_room(places_now=50, added=11, cap=60)  # 61 > 60
    assert not wijk_has_room(places_now=60, added=-5, cap=40)  # a lowered cap: 55 > 40 still refused
    assert wijk_has_room(places_now=60, added=-20, cap=40)  # 40 <= 40


def facility(wijk: str | None, capacity: int) -> Facility:
    return Facility("f-1", "11111111", "F", "0034", wijk, "MO_24H", capacity, 0, [Need.PSYCHIATRIC])


def test_moving_a_facility_moves_its_places_between_wijken() -> None:
    assert wijk_place_changes(None, facility("WK003401", 10)) == {"WK003401": 10}
    assert wijk_place_changes(facility("WK003401", 10), facility("WK003401", 14)) == {"WK003401": 4}
    assert wijk_place_changes(facility("WK003401", 10), facility("WK003402", 12)) == {"WK003401": -10, "WK003402": 12}
    assert wijk_place_changes(facility("WK003401", 10), facility("WK003401", 10)) == {}


def test_an_ambulant_team_has_no_wijk_and_a_building_has_one_in_its_municipality() -> None:
    home, shelter = REGION.care_form("BW_HOME"), REGION.care_form("MO_24H")
    assert site_problem(home, "0034", None) is None
    assert site_problem(home, "0034", "WK003401") is not None
    assert site_problem(shelter, "0034", "WK003401") is None
    assert site_problem(shelter, "0034", None) == "a facility building needs its CBS wijk code"
    assert site_problem(shelter, "0034", "WK099501") == "WK099501 does not lie in municipality 0034"


def test_doorstroom_follows_the_regions_pairs_only() -> None:
    policy = PlacementPolicy()
    assert may_wait_for_doorstroom(policy, "MO_EMERGENCY", "BW_24H")
    assert may_wait_for_doorstroom(policy, "MO_NIGHT", "MO_24H")
    assert not may_wait_for_doorstroom(policy, "MO_24H", "MO_NIGHT")
    assert not may_wait_for_doorstroom(PlacementPolicy(doorstroom={}), "MO_NIGHT", "MO_24H")


def test_a_placed_client_is_matched_only_along_an_allowed_pair() -> None:
    policy = PlacementPolicy()
    waiting = WaitingClient("c", "MO_24H", "0034", Urgency.NORMAL, date(2027, 3, 1))
    assert may_be_matched(waiting, policy)
    assert may_be_matched(WaitingClient(**{**waiting.__dict__, "in_place_of": "MO_NIGHT"}), policy)
    assert not may_be_matched(WaitingClient(**{**waiting.__dict__, "in_place_of": "BW_24H"}), policy)


def test_the_move_happens_on_the_latest_of_waiting_freeing_and_the_current_start() -> None:
    assert doorstroom_day(date(2027, 3, 5), date(2027, 3, 20), date(2027, 3, 1)) == date(2027, 3, 20)
    assert doorstroom_day(date(2027, 3, 5), date(2027, 3, 2), None) == date(2027, 3, 5)
    assert doorstroom_day(date(2027, 3, 5), date(2027, 3, 2), date(2027, 3, 8)) == date(2027, 3, 8)


def test_dates_beyond_today_plus_the_margin_are_refused() -> None:
    today = date(2027, 3, 31)
    assert DatePolicy().too_late(today, today) is None
    assert (
        DatePolicy().too_late(date(2027, 4, 1), today) == "2027-04-01 lies beyond 2027-03-31, the latest date allowed"
    )
    assert DatePolicy(max_days_ahead=3).too_late(date(2027, 4, 3), today) is None


def test_a_transfer_takes_effect_within_31_days_back_and_92_ahead() -> None:
    today, policy = date(2027, 3, 31), DatePolicy()
    assert policy.in_transfer_window(date(2027, 2, 28), today)  # 31 days back
    assert not policy.in_transfer_window(date(2027, 2, 27), today)
    assert policy.in_transfer_window(date(2027, 7, 1), today)  # 92 days ahead
    assert not policy.in_transfer_window(date(2027, 7, 2), today)


def test_an_accepted_transfer_takes_effect_from_its_date_once() -> None:
    proposed = Transfer(
        "t-1", "c", ("i-1",), "0034", "0303", True, TransferReason.ORIGIN, date(2027, 4, 10), date(2027, 3, 31)
    )
    accepted = proposed.accepted(date(2027, 4, 1))
    assert not takes_effect(proposed, date(2027, 4, 10))
    assert not takes_effect(accepted, date(2027, 4, 9))
    assert takes_effect(accepted, date(2027, 4, 10))
    assert not takes_effect(Transfer(**{**accepted.__dict__, "applied": True}), date(2027, 4, 10))


def test_an_update_changes_only_what_it_names() -> None:
    before = Registration(
        "i-1", "c", "MO_24H", "0034", Urgency.NORMAL, (Need.PSYCHIATRIC,), 1, 0, ("0995",), date(2027, 3, 1)
    )
    after = before.updated(urgency=Urgency.HIGH, household=(2, 1))
    assert (after.urgency, after.adults, after.children) == (Urgency.HIGH, 2, 1)
    assert (after.needs, after.preferred_municipalities, after.waiting_since) == (
        (Need.PSYCHIATRIC,),
        ("0995",),
        date(2027, 3, 1),
    )


def test_a_client_registered_twice_for_one_care_form_is_matched_once_by_the_first_entry() -> None:
    first = WaitingClient("c", "MO_24H", "0034", Urgency.HIGH, date(2027, 3, 5), intake_id="i-2")
    second = WaitingClient("c", "MO_24H", "0034", Urgency.NORMAL, date(2027, 3, 1), intake_id="i-1")
    assert one_entry_per_client([second, first]) == [first]
