"""`zorgstroom report`: the flows per responsible municipality from the reporting API, and the table of
a simulation per simulated year (`zorgstroom simulate`)."""

from datetime import date
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from zorgstroom_contracts.region import add_months
from zorgstroom_ops.plan import SimulatedYear
from zorgstroom_ops.stack import RegionFile, callers, console, region_of, service_urls

REPORT_COLUMNS = {
    "registrations": "registered",
    "inflow": "inflow",
    "doorstroom": "doorstroom",
    "outflow": "outflow (home)",
    "ended_other": "ended other",
    "relapses": "relapses",
    "withdrawals": "withdrawn",
    "waiting_at_end": "waiting at end",
    "ready_not_housed_at_end": "ready, not housed at end",
}
YEAR_COLUMNS = [c for c in REPORT_COLUMNS if c != "waiting_at_end"]


def region_flows(first: date, last: date) -> dict[str, Any]:
    """GET /v1/region/flows for the months of `first` to `last`, as region staff."""
    reporting = service_urls()["reporting"]
    region_staff = next(v for k, v in callers().items() if k.startswith("region-"))
    answer = httpx.get(f"{reporting}/v1/region/flows?from={first:%Y-%m}&to={last:%Y-%m}", auth=region_staff, timeout=30)
    answer.raise_for_status()
    flows: dict[str, Any] = answer.json()
    return flows


def registered_exactly(first: date, last: date) -> int:
    """The region's registrations exactly: each municipality's own row of the region flows, read with its own
    credential (everyone else sees counts rounded to 5, docs/http.md "Small numbers")."""
    reporting, total = service_urls()["reporting"], 0
    for name, auth in callers().items():
        if not name.startswith("municipality-"):
            continue
        answer = httpx.get(f"{reporting}/v1/region/flows?from={first:%Y-%m}&to={last:%Y-%m}", auth=auth, timeout=30)
        answer.raise_for_status()
        own = [m for m in answer.json()["municipalities"] if m["municipality"] == name.removeprefix("municipality-")]
        total += sum(int(m["totals"]["registrations"]) for m in own)
    return total


def figure(totals: dict[str, Any], column: str) -> int:
    """A count column of the region's totals (rounded to 5); one reporting does not have yet reads as 0."""
    value = totals.get(column, 0)
    return sum(value.values()) if isinstance(value, dict) else int(value or 0)


def shown(totals: dict[str, Any], column: str) -> str:
    """A municipality's figure as reporting shows it to the caller (region staff: rounded to 5)."""
    return str(totals.get(column, 0))


def year_table(years: list[SimulatedYear], region_name: str) -> Table:
    table = Table(title=f"{region_name}: the simulated years (from the reporting API; rates illustrative)")
    table.add_column("year")
    for column in YEAR_COLUMNS:
        table.add_column(REPORT_COLUMNS[column], justify="right")
    for year in years:
        totals = region_flows(year.first, year.last)["totals"]
        table.add_row(year.label, *(str(figure(totals, c)) for c in YEAR_COLUMNS))
    return table


def report(
    year: Annotated[int | None, typer.Option(help="A calendar year; default the twelve months to this one.")] = None,
    region_file: RegionFile = None,
) -> None:
    """Print the flows per responsible municipality, from the reporting API."""
    region = region_of(region_file)
    today = date.today()
    # Reports end at the current month at the latest (a month to come would be refused with a 422).
    first, last = (
        (date(year, 1, 1), min(date(year, 12, 31), today)) if year else (add_months(today.replace(day=1), -11), today)
    )
    flows = region_flows(first, last)
    table = Table(title=f"Flows per responsible municipality, {region.name} {first:%Y-%m} .. {last:%Y-%m}")
    table.add_column("municipality")
    table.add_column("code")
    for label in REPORT_COLUMNS.values():
        table.add_column(label, justify="right")
    for m in flows["municipalities"]:
        table.add_row(m["name"], m["municipality"], *(shown(m["totals"], c) for c in REPORT_COLUMNS))
    table.add_row("region", region.code, *(str(figure(flows["totals"], c)) for c in REPORT_COLUMNS), style="bold")
    console.print(table)
    ready = [
        figure(region_flows(first, min(add_months(first, n), last))["totals"], "ready_not_housed_at_end")
        for n in (2, 5, 8, 11)
    ]
    console.print(
        f"ready for outflow but not housed at the end of months 3, 6, 9 and 12: {ready} (homes are the bottleneck)"
    )
