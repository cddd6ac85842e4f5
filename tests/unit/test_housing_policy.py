"""Rooms a household needs (HousingPolicy.rooms_needed, region data): the region's table, and past its end."""

import pytest
from pydantic import ValidationError

from zorgstroom_contracts.region import HousingPolicy

POLICY = HousingPolicy()  # the illustrative table: 1->1, 2->2, 3->2, 4->3, 5->3, 6->4


def test_rooms_needed_follow_the_region_table() -> None:
    pairs = [(1, 0), (2, 0), (1, 2), (2, 2), (1, 4), (2, 4)]
    assert [POLICY.rooms_needed(a, c) for a, c in pairs] == [1, 2, 2, 3, 3, 4]


def test_rooms_needed_grow_past_the_largest_listed_household() -> None:
    # one room per two extra persons, rounded up: 7 and 8 persons need 5, 9 and 10 need 6
    assert [POLICY.rooms_needed(2, c) for c in (5, 6, 7, 8)] == [5, 5, 6, 6]


def test_unlisted_household_size_gets_the_rooms_of_the_next_listed_size() -> None:
    assert HousingPolicy(rooms_by_household_size={1: 1, 4: 3}).rooms_needed(2, 0) == 3


def test_an_unusable_rooms_table_is_refused_where_the_region_is_read() -> None:
    for table in ({}, {0: 1}, {1: 0}):
        with pytest.raises(ValidationError):
            HousingPolicy(rooms_by_household_size=table)


def test_rooms_needed_refuse_a_household_without_an_adult() -> None:
    with pytest.raises(ValueError):
        POLICY.rooms_needed(0, 1)
