"""The simulation's plan, worked out by hand: the months it covers end with the current month and never
pass today, its years and weeks, the quota years, the days transfers may be made, and the illustrative
rates of relapse, doorstroom and withdrawal."""

import subprocess
import sys
from datetime import date

import pytest

from tests.support.infra import ROOT
from zorgstroom_contracts.region import DatePolicy, within_months_after
from zorgstroom_ops.plan import Period, Rates, SimulatedYear, doorstroom_to, relapse_on, withdrawal_on
from zorgstroom_ops.report_command import figure
from zorgstroom_ops.simulate_command import period_intakes
from zorgstroom_runtime.region import load_region

TODAY = date(2026, 11, 30)
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")


def test_one_year_is_the_twelve_months_that_end_with_the_current_month() -> None:
    period = Period.ending(TODAY, 1)
    assert period.simulated_years() == [SimulatedYear(date(2025, 12, 1), date(2026, 11, 30))]
    assert period.simulated_years()[0].label == "2025-12 .. 2026-11"
    assert period.quota_years() == [2025, 2026]


def test_three_years_end_today_and_each_has_twelve_months() -> None:
    period = Period.ending(date(2026, 11, 12), 3)
    assert period.simulated_years() == [
        SimulatedYear(date(2023, 12, 1), date(2024, 11, 30)),
        SimulatedYear(date(2024, 12, 1), date(2025, 11, 30)),
        SimulatedYear(date(2025, 12, 1), date(2026, 11, 12)),  # the current month, up to today
    ]
    assert period.quota_years() == [2023, 2024, 2025, 2026]


def test_weeks_cover_every_day_once_and_stop_at_today() -> None:
    weeks = Period.ending(TODAY, 1).weeks()
    # 2025-12-01 .. 2026-11-30 is 365 days: 52 whole weeks and one day.
    assert len(weeks) == 53 and weeks[0] == (date(2025, 12, 1), date(2025, 12, 7))
    assert weeks[-1] == (date(2026, 11, 30), date(2026, 11, 30))
    assert sum((last - first).days + 1 for first, last in weeks) == 365
    assert max(last for _, last in weeks) == TODAY


def test_a_simulation_needs_a_year() -> None:
    with pytest.raises(ValueError):
        Period.ending(TODAY, 0)


def test_transfers_are_made_in_the_last_month_within_the_regions_window() -> None:
    assert Period.ending(TODAY, 1).transfer_days(DatePolicy()) == (date(2026, 11, 1), TODAY)
    # A window of ten days back cuts the month: from 2026-11-20.
    narrow = DatePolicy(transfer_max_days_back=10)
    assert Period.ending(TODAY, 2).transfer_days(narrow) == (date(2026, 11, 20), TODAY)


def test_a_relapse_falls_within_twelve_calendar_months_of_the_outflow_at_the_illustrative_rate() -> None:
    outflow = date(2026, 3, 31)
    days = [relapse_on(42, f"client-{n}", outflow) for n in range(2000)]
    relapsed = [d for d in days if d is not None]
    assert 0.12 < len(relapsed) / 2000 < 0.18  # the illustrative 15 %
    assert all(within_months_after(outflow, d, 12) and (d - outflow).days >= 7 for d in relapsed)
    assert days == [relapse_on(42, f"client-{n}", outflow) for n in range(2000)]  # the same seed decides the same
    assert all(relapse_on(42, f"client-{n}", outflow, Rates(relapse=0.0)) is None for n in range(100))


def test_doorstroom_goes_from_emergency_or_night_shelter_to_a_pair_the_region_allows() -> None:
    targets = [doorstroom_to(7, f"p-{n}", care_form) for n in range(400) for care_form in ("MO_EMERGENCY", "MO_NIGHT")]
    chosen = [t for t in targets if t is not None]
    assert set(chosen) == {"MO_24H", "BW_24H"} and 0.28 < len(chosen) / len(targets) < 0.42
    for n in range(400):
        for care_form in ("MO_EMERGENCY", "MO_NIGHT"):
            to = doorstroom_to(7, f"p-{n}", care_form)
            assert to is None or REGION.placement.doorstroom_allowed(care_form, to)
    assert {doorstroom_to(7, f"p-{n}", "MO_24H") for n in range(100)} == {None}


def test_a_withdrawal_comes_twenty_to_a_hundred_and_twenty_days_after_the_registration() -> None:
    on = date(2026, 5, 1)
    days = [withdrawal_on(3, f"key-{n}", on) for n in range(1000)]
    withdrawn = [d for d in days if d is not None]
    assert 0.05 < len(withdrawn) / 1000 < 0.11
    assert all(20 <= (d - on).days <= 120 for d in withdrawn)


def test_every_simulated_year_registers_about_as_many_and_none_after_today() -> None:
    period = Period.ending(TODAY, 3)
    intakes = period_intakes(REGION, period, 42)
    per_year = [
        sum(1 for i in intakes if y.first.isoformat() <= i.body["registered_on"] <= y.last.isoformat())
        for y in period.simulated_years()
    ]
    assert sum(per_year) == len(intakes) and min(per_year) > 0.9 * max(per_year)
    assert max(i.body["registered_on"] for i in intakes) <= TODAY.isoformat()
    assert min(i.body["registered_on"] for i in intakes) >= "2023-12-01"
    assert len({i.key for i in intakes}) == len(intakes)


def test_a_count_reporting_does_not_have_yet_reads_as_zero() -> None:
    assert figure({"registrations": 12}, "withdrawals") == 0
    assert figure({"registrations": 12}, "registrations") == 12
    assert figure({"doorstroom": {"MO_NIGHT>MO_24H": 2, "MO_24H>BW_24H": 1}}, "doorstroom") == 3


def test_the_cli_has_every_command_and_no_import_circle() -> None:
    code = (
        "import sys, zorgstroom_ops.rebuild_command, zorgstroom_ops.stack;"
        " assert 'zorgstroom_ops.cli' not in sys.modules, 'rebuild imports the cli';"
        " from zorgstroom_ops.cli import app;"
        " names = sorted(c.name or c.callback.__name__ for c in app.registered_commands);"
        " print(names)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(
        sorted(
            [
                *("up", "down", "status", "simulate", "report", "demo", "dead-letters", "provider-topic"),
                *("rebuild", "db-roles", "migrate", "audit", "trace", "realm"),
            ]
        )
    )
