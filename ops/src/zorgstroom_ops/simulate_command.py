"""`zorgstroom simulate --years N`: the N*12 months that end with the current month, driven through the
real HTTP APIs (registrations, relapses, doorstroom, withdrawals, transfers, placements, assessments,
homes and offers), then a table per simulated year read back from reporting."""

import asyncio
import time
from datetime import date
from typing import Annotated

import typer
from rich.progress import Progress

from zorgstroom_ops.actors import Urls
from zorgstroom_ops.plan import Period
from zorgstroom_ops.region_run import RegionRun, RunOutcome
from zorgstroom_ops.report_command import registered_exactly, year_table
from zorgstroom_ops.simulate import SimulatedIntake, drive, intakes_between
from zorgstroom_ops.stack import RegionFile, callers, console, demo_data, region_of, service_urls
from zorgstroom_runtime.region import Region


def period_intakes(region: Region, period: Period, seed: int) -> list[SimulatedIntake]:
    """Each simulated year's registrations drawn apart, so every year has the same expected number."""
    return [i for y in period.simulated_years() for i in intakes_between(region, y.first, y.last, seed)]


def simulate(
    years: Annotated[int, typer.Option(min=1, max=10, help="Simulate the years*12 months up to this month.")] = 1,
    seed: int = 42,
    region_file: RegionFile = None,
) -> None:
    """Drive the months up to today through the real APIs, then print a table per simulated year."""
    region = region_of(region_file)
    period = Period.ending(date.today(), years)
    intakes = period_intakes(region, period, seed)
    urls, demo = service_urls(), demo_data(region)
    with Progress(console=console, transient=True) as bar:
        if demo is None:  # a region without the demo's organisations: its registrations only
            bar.add_task(f"registering {len(intakes)} intakes", total=None)
            outcome = RunOutcome(intakes=asyncio.run(drive(intakes, urls["intake"], callers())))
        else:
            run = RegionRun(
                demo, region, Urls(urls["intake"], urls["placement"], urls["housing"]), callers(), period, seed
            )
            task = bar.add_task(f"simulating {period.first:%Y-%m} .. {period.today:%Y-%m}", total=len(period.weeks()))
            outcome = asyncio.run(run.run(intakes, progress=lambda: bar.advance(task)))
    console.print(
        "municipalities, providers and corporations: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(outcome.statuses.items()))
    )
    console.print(f"intake answered: {dict(outcome.intakes.statuses)}")
    if set(outcome.intakes.statuses) != {202}:
        raise typer.Exit(1)
    _wait_for_reporting(region, period, intakes, outcome)
    console.print(year_table(period.simulated_years(), region.name))


def _wait_for_reporting(
    region: Region, period: Period, intakes: list[SimulatedIntake], outcome: RunOutcome, timeout: float = 180
) -> None:
    """Until reporting counts at least the planned registrations (relapses and doorstroom come on top)
    and its count has stopped moving."""
    planned = {i.key for i in intakes}
    expected = sum(
        1
        for key, a in outcome.intakes.accepted.items()
        if key in planned and a["responsible_municipality"] in region.municipalities
    )
    deadline, seen = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        counted = registered_exactly(period.first, period.today)
        if counted >= expected and counted == seen:
            return
        seen = counted
        time.sleep(1.0)
    raise TimeoutError("reporting did not catch up with the intakes in time")
