"""The region's shared calendar rule and care forms as data, worked out by hand."""

from datetime import date

import pytest
from pydantic import ValidationError

from zorgstroom_contracts.compat import breaking_changes
from zorgstroom_contracts.region import (
    CareFormGroup,
    CareFormSpec,
    DatePolicy,
    PlacementPolicy,
    Region,
    ResponsibilityPolicy,
    add_months,
    within_months_after,
)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),  # February has no 31st: its last day
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # a leap year's
        (date(2027, 1, 31), 12, date(2028, 1, 31)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),  # over the year's end
    ],
)
def test_months_are_calendar_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_twelve_months_after_include_the_first_day_and_end_the_day_before_the_anniversary() -> None:
    outflow = date(2027, 1, 31)
    assert within_months_after(outflow, date(2027, 1, 31), 12)  # the outflow day itself counts
    assert within_months_after(outflow, date(2028, 1, 30), 12)
    assert not within_months_after(outflow, date(2028, 1, 31), 12)  # twelve calendar months on
    assert not within_months_after(outflow, date(2027, 1, 30), 12)  # before the outflow


def test_the_window_ending_in_february_does_not_run_over_into_march() -> None:
    # 29 February 2028 + 12 months = 28 February 2029: a registration on that day is outside.
    assert within_months_after(date(2028, 2, 29), date(2029, 2, 27), 12)
    assert not within_months_after(date(2028, 2, 29), date(2029, 2, 28), 12)


def _region(**overrides: object) -> Region:
    return Region.model_validate(
        dict(
            code="x1",
            name="X",
            centre_municipality="0034",
            municipalities={},
            responsibility=ResponsibilityPolicy(),
            national={},
            **overrides,
        )
    )


def test_a_region_adds_a_care_form_of_its_own_without_code() -> None:
    standard = _region().care_forms
    tussen = CareFormSpec(code="BW_TUSSEN", label="Tussenvoorziening", group="BW", product_category="18")
    region = _region(care_forms={**standard, "BW_TUSSEN": tussen})
    assert region.care_form("BW_TUSSEN").group is CareFormGroup.BW
    assert region.care_form("BW_TUSSEN").product_category == "18"
    assert region.care_form("BW_HOME").ambulant and not region.care_form("BW_24H").ambulant
    with pytest.raises(KeyError, match="BW_TUSSEN"):
        region.care_form("MO_WOMEN")


def test_doorstroom_may_name_only_care_forms_the_region_has() -> None:
    with pytest.raises(ValidationError, match="MO_WOMEN"):
        _region(placement=PlacementPolicy(doorstroom={"MO_EMERGENCY": ("MO_WOMEN",)}))
    assert PlacementPolicy().doorstroom_allowed("MO_EMERGENCY", "BW_24H")
    assert not PlacementPolicy().doorstroom_allowed("BW_24H", "MO_24H")


def test_dates_are_bounded_around_today() -> None:
    policy = DatePolicy(max_days_ahead=0, transfer_max_days_back=31, transfer_max_days_ahead=92)
    today = date(2026, 11, 30)
    assert policy.latest_allowed(today) == today
    assert policy.transfer_window(today) == (date(2026, 10, 30), date(2027, 3, 2))


def test_opening_a_code_list_to_a_pattern_its_codes_match_is_compatible_and_narrowing_it_is_not() -> None:
    old = {"type": "object", "properties": {"c": {"type": "string", "enum": ["BW_24H", "MO_24H"]}}}
    opened = {"type": "object", "properties": {"c": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{1,39}$"}}}
    assert breaking_changes(old, opened) == []
    lowercase_only = {"type": "object", "properties": {"c": {"type": "string", "pattern": "^[a-z]+$"}}}
    assert breaking_changes(old, lowercase_only) != []
    assert breaking_changes(opened, old) != []  # closing it again is breaking


def test_doorstroom_pairs_may_not_run_in_a_circle() -> None:
    with pytest.raises(ValidationError, match="cycle: BW_24H -> MO_24H -> BW_24H"):
        _region(placement=PlacementPolicy(doorstroom={"MO_24H": ("BW_24H",), "BW_24H": ("MO_24H",)}))
    with pytest.raises(ValidationError, match="cycle"):
        _region(
            placement=PlacementPolicy(
                doorstroom={"MO_NIGHT": ("MO_24H",), "MO_24H": ("BW_24H",), "BW_24H": ("MO_NIGHT",)}
            )
        )
    with pytest.raises(ValidationError, match="cycle: MO_24H -> MO_24H"):
        _region(placement=PlacementPolicy(doorstroom={"MO_24H": ("MO_24H",)}))
    assert _region().placement.doorstroom_allowed("MO_EMERGENCY", "MO_NIGHT")  # the default pairs are a chain
