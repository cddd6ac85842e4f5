"""Reporting's query layer: who may read which report, and each report's shape, free of HTTP.

Every function receives narrow dependencies (the pool to read the projections from, the region and
its policies, the caller) and returns a `Report`: the JSON document and the rows of its CSV. Refusals
are plain application errors; the HTTP module only parses parameters and renders.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from zorgstroom_reporting.domain.disclosure import disclose_counts
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, other_endings_by_reason
from zorgstroom_reporting.queries import places
from zorgstroom_reporting.queries.flows import flow_report, load_facts, matrix_cells
from zorgstroom_reporting.queries.months import Month
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Forbidden, NotFound
from zorgstroom_runtime.region import Region

SHOWN_COUNTS = COUNT_COLUMNS + STATE_COLUMNS


@dataclass(frozen=True)
class Report:
    document: dict[str, Any]  # the JSON answer
    rows: list[dict[str, Any]]  # the CSV answer, one dict per line
    filename: str  # of the CSV download


def is_responsible(principal: Principal, code: str) -> bool:
    return principal.organisation_kind is OrganisationKind.MUNICIPALITY and principal.organisation_id == code


def may_read_municipality(principal: Principal, code: str) -> None:
    if Role.REPORTS_REGION in principal.roles:
        return
    principal.require(Role.REPORTS_OWN)
    if principal.organisation_kind is not OrganisationKind.MUNICIPALITY or principal.organisation_id != code:
        raise Forbidden("a municipality reads only its own reports")


def _in_region(region: Region, code: str) -> None:
    if not region.in_region(code):
        raise NotFound(f"{code} is not a municipality of region {region.code}")


def last_day(month: Month) -> date:
    return date.fromordinal(month.next().first_day().toordinal() - 1)


def _pairs(counts: object) -> str:
    """A breakdown in one CSV cell: `19=3;21=1` (WMO588 code = count)."""
    return ";".join(f"{k}={v}" for k, v in counts.items()) if isinstance(counts, dict) else ""


def _breakdown(counts: dict[str, int], threshold: int, *, exact: bool) -> dict[str, Any] | None:
    """A breakdown of a total that is shown: withheld (None) when any part would be masked, since the
    masked part could be worked out by subtracting the others from the total."""
    shown = disclose_counts(counts, counts, threshold, exact=exact)
    return None if any(isinstance(v, str) for v in shown.values()) else shown


async def municipality_flows(
    pool: asyncpg.Pool, region: Region, principal: Principal, code: str, first: Month, last: Month
) -> Report:
    may_read_municipality(principal, code)
    _in_region(region, code)
    policy = region.reporting
    facts = await load_facts(pool, code)
    report = flow_report(facts, code, first, last, policy.relapse_months)
    exact, threshold = is_responsible(principal, code), policy.small_number_threshold
    by_reason = other_endings_by_reason(facts, code, first, last)
    months = [
        disclose_counts(row, SHOWN_COUNTS, threshold, exact=exact)
        | {"ended_other_by_reason": _breakdown(by_reason[month], threshold, exact=exact)}
        for month, row in zip(sorted(by_reason), report.rows(), strict=True)
    ]
    summed: Counter[str] = Counter()
    for reasons in by_reason.values():
        summed.update(reasons)
    totals = disclose_counts(report.totals, SHOWN_COUNTS, threshold, exact=exact) | {
        "ended_other_by_reason": _breakdown(dict(sorted(summed.items())), threshold, exact=exact)
    }
    rows = [{"municipality": code, **m, "ended_other_by_reason": _pairs(m["ended_other_by_reason"])} for m in months]
    return Report(report.as_json() | {"months": months, "totals": totals}, rows, f"flows-{code}-{first}-{last}.csv")


async def region_flows(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    if Role.REPORTS_REGION not in principal.roles:
        principal.require(Role.REPORTS_OWN)
    policy = region.reporting
    facts = await load_facts(pool)
    exact_of = {
        code: flow_report(facts, code, first, last, policy.relapse_months).totals for code in region.municipalities
    }
    totals = {c: sum(t[c] for t in exact_of.values()) for c in SHOWN_COUNTS}
    totals_of = {
        code: disclose_counts(t, SHOWN_COUNTS, policy.small_number_threshold, exact=is_responsible(principal, code))
        for code, t in exact_of.items()
    }
    municipalities = [
        {"municipality": m.code, "name": m.name, "totals": totals_of[m.code]} for m in region.municipalities.values()
    ]
    rows = [
        {"municipality": m.code, "name": m.name, "from": str(first), "to": str(last), **totals_of[m.code]}
        for m in region.municipalities.values()
    ]
    document = {"region": region.code, "from": str(first), "to": str(last), "municipalities": municipalities}
    return Report(document | {"totals": totals}, rows, f"region-flows-{first}-{last}.csv")


async def region_matrix(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    """Regional solidarity: whose clients are placed in which municipality's facilities (aggregates only)."""
    principal.require(Role.REPORTS_REGION)
    threshold = region.reporting.small_number_threshold
    cells = [
        disclose_counts(c, ["clients"], threshold, exact=False)
        for c in matrix_cells(await load_facts(pool), first, last)
    ]
    rows = [{"from": str(first), "to": str(last), **c} for c in cells]
    return Report({"from": str(first), "to": str(last), "cells": cells}, rows, f"matrix-{first}-{last}.csv")


def _money_row(m: Any) -> dict[str, Any]:
    return {
        "municipality": m.municipality,
        "year": m.year,
        "share": round(m.share, 6),
        "budget_eur": m.budget_eur,
        "cost_eur": m.cost_eur,
        "balance_eur": round(m.balance_eur, 2),
        "settlement_eur": m.settlement_eur,
        **{f"client_days_{form}": days for form, days in sorted(m.client_days.items())},
    }


async def municipality_budget(pool: asyncpg.Pool, region: Region, principal: Principal, code: str, year: int) -> Report:
    """Client-days x tariff for the clients this municipality is responsible for, against its budget under the
    distribution model, and what it pays into (+) or receives from (-) the regional pot."""
    may_read_municipality(principal, code)
    _in_region(region, code)
    found = [r for r in places.money(region, await load_facts(pool), year) if r.municipality == code]
    if not found:
        raise NotFound(f"region {region.code} has no budget shares for {code}")
    row = _money_row(found[0])
    return Report(row | {"client_days": found[0].client_days}, [row], f"budget-{code}-{year}.csv")


async def region_budget(pool: asyncpg.Pool, region: Region, principal: Principal, year: int) -> Report:
    principal.require(Role.REPORTS_REGION)
    money = places.money(region, await load_facts(pool), year)
    rows = [_money_row(r) for r in money]
    totals = {k: round(sum(getattr(r, k) for r in money), 2) for k in ("budget_eur", "cost_eur", "settlement_eur")}
    document = {"region": region.code, "year": year, "municipalities": rows, "totals": totals}
    return Report(document, rows, f"region-budget-{year}.csv")


async def region_wijken(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    """Facility places now, and outflow homes moved into up to the end of the period, per CBS wijk."""
    principal.require(Role.REPORTS_REGION)
    threshold = region.reporting.small_number_threshold
    rows = [
        disclose_counts(w, ["outflow_homes"], threshold, exact=False)
        for w in await places.wijken(pool, region, last_day(last))
    ]
    document = {"region": region.code, "from": str(first), "to": str(last), "wijken": rows}
    return Report(document, rows, f"wijken-{first}-{last}.csv")


async def region_occupancy(pool: asyncpg.Pool, region: Region, principal: Principal, last: Month) -> Report:
    """Places (the latest capacity each facility registered) and those taken on the last day of the period."""
    principal.require(Role.REPORTS_REGION)
    threshold = region.reporting.small_number_threshold
    facilities = await places.occupancy(pool, last_day(last))
    by_form: dict[str, dict[str, int]] = {}
    for f in facilities:
        form = by_form.setdefault(f["care_form"], {"capacity": 0, "occupied": 0})
        form["capacity"] += f["capacity"]
        form["occupied"] += f["occupied"]
    shown = [disclose_counts(f, ["occupied"], threshold, exact=False) for f in facilities]
    care_forms = [
        disclose_counts({"care_form": k, **v}, ["occupied"], threshold, exact=False) for k, v in sorted(by_form.items())
    ]
    document = {"region": region.code, "on": str(last_day(last)), "facilities": shown, "care_forms": care_forms}
    return Report(document, shown, f"occupancy-{last}.csv")


async def region_housing(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    """Per corporation, municipality and quota year: the quota, offers made in the period and their outcome
    (the accepted ones are the quota used), and what is left of the quota."""
    principal.require(Role.REPORTS_REGION)
    rows = await places.offers(pool, first.first_day(), last.next().first_day())
    document = {"region": region.code, "from": str(first), "to": str(last), "offers": rows}
    return Report(document, rows, f"housing-{first}-{last}.csv")
