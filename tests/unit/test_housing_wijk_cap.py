"""The wijk cap on outflow homes over a rolling window (docs/domain.md, "Wijk caps"), with dates worked by hand."""

from datetime import date

from zorgstroom_housing.domain.wijk_cap import WijkOutflow, counted_since, holds_slot, homes_counted, wijk_has_room

LET = WijkOutflow(let_on=(date(2026, 1, 15), date(2026, 3, 1)))


def test_a_wijk_at_its_cap_opens_when_the_first_home_has_been_let_a_window_ago() -> None:
    # cap 2, homes let on 15 January and 1 March 2026, window 12 months
    assert not wijk_has_room(2, LET, date(2027, 1, 14), 12)
    assert wijk_has_room(2, LET, date(2027, 1, 15), 12)


def test_each_home_frees_its_slot_on_its_own_day() -> None:
    counts = [homes_counted(LET, day, 12) for day in (date(2027, 1, 14), date(2027, 1, 15), date(2027, 3, 1))]
    assert counts == [2, 1, 0]


def test_open_offers_hold_a_slot_whatever_the_day() -> None:
    homes = WijkOutflow(let_on=(date(2026, 1, 15),), open_offers=1)
    assert homes_counted(homes, date(2030, 1, 1), 12) == 1
    assert not wijk_has_room(1, homes, date(2030, 1, 1), 12)


def test_a_shorter_window_frees_slots_sooner() -> None:
    assert homes_counted(LET, date(2026, 7, 15), 6) == 1  # 15 January + 6 months = 15 July: freed that day
    assert homes_counted(LET, date(2026, 7, 14), 6) == 2


def test_a_home_let_after_the_day_counts_too() -> None:
    # An offer dated before a letting must not take the slot that letting holds.
    assert holds_slot(date(2027, 5, 1), date(2027, 4, 1), 12)


def test_the_window_ends_on_the_last_day_of_a_shorter_month() -> None:
    # let on 31 March 2026: 11 months on is 28 February 2027 (no 31st), 12 months on is 31 March 2027
    assert holds_slot(date(2026, 3, 31), date(2027, 3, 30), 12)
    assert not holds_slot(date(2026, 3, 31), date(2027, 3, 31), 12)
    assert not holds_slot(date(2026, 3, 31), date(2027, 2, 28), 11)


def test_a_wijk_with_a_cap_of_zero_never_has_room() -> None:
    assert not wijk_has_room(0, WijkOutflow(), date(2027, 1, 1), 12)


def test_the_store_reads_lettings_from_a_month_before_the_window_of_the_earliest_day() -> None:
    assert counted_since([date(2027, 3, 31), date(2027, 6, 1)], 12) == date(2026, 2, 28)
