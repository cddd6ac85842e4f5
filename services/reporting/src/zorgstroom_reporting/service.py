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
from zorgstroom_reporting.domain.facts import Facts
from zorgstroom_reporting.domain.flows import Flows, monthly_flows, totals
from zorgstroom_reporting.domain.money import Cost, MunicipalityMoney, NoBudgetForYear, Settlement, settle
from zorgstroom_reporting.domain.months import Month
from zorgstroom_reporting.domain.solidarity import region_matrix as solidarity_matrix
from zorgstroom_reporting.queries import places
from zorgstroom_reporting.queries.documents import SHOWN_COUNTS, flat, shown
from zorgstroom_reporting.queries.flows import load_facts
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Forbidden, InvalidField, NotFound
from zorgstroom_runtime.region import Region


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


async def municipality_flows(
    pool: asyncpg.Pool, region: Region, principal: Principal, code: str, first: Month, last: Month
) -> Report:
    may_read_municipality(principal, code)
    _in_region(region, code)
    exact, threshold = is_responsible(principal, code), region.reporting.small_number_threshold
    months = monthly_flows(await load_facts(pool, code), code, first, last, region)
    shown_months = [{"month": str(m)} | shown(f, threshold, exact=exact) for m, f in sorted(months.items())]
    document = {
        "municipality": code,
        "from": str(first),
        "to": str(last),
        "months": shown_months,
        "totals": shown(totals(months), threshold, exact=exact),
    }
    rows = [{"municipality": code, **flat(m)} for m in shown_months]
    return Report(document, rows, f"flows-{code}-{first}-{last}.csv")


def _elsewhere(facts: Facts, region: Region) -> list[str]:
    """Responsible municipalities outside the region (national access: docs/domain.md, rule 12)."""
    codes = {r.responsible for r in facts.registrations} | {p.responsible for p in facts.placements}
    codes |= {t.to_municipality for t in facts.transfers} | {w.responsible for w in facts.withdrawals}
    return sorted(c for c in codes if not region.in_region(c))


def _name(region: Region, code: str) -> str:
    known = region.municipalities.get(code) or region.national.get(code)
    return known.name if known else code


async def region_flows(
    pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month, today: date | None = None
) -> Report:
    if Role.REPORTS_REGION not in principal.roles:
        principal.require(Role.REPORTS_OWN)
    threshold = region.reporting.small_number_threshold
    facts = await load_facts(pool)

    def period_totals(code: str) -> Flows:
        return totals(monthly_flows(facts, code, first, last, region))

    def shown_of(code: str, flows: Flows) -> dict[str, Any]:
        return shown(flows, threshold, exact=is_responsible(principal, code))

    exact_of = {code: period_totals(code) for code in region.municipalities}
    totals_of = {code: shown_of(code, t) for code, t in exact_of.items()}
    municipalities = [
        {"municipality": m.code, "name": m.name, "totals": totals_of[m.code]} for m in region.municipalities.values()
    ]
    rows = [
        {"municipality": m.code, "name": m.name, "from": str(first), "to": str(last), **flat(totals_of[m.code])}
        for m in region.municipalities.values()
    ]
    days_of: Counter[str] = Counter()
    for (responsible, _), cell in solidarity_matrix(facts, first, last, today or date.today()).items():
        days_of[responsible] += cell.client_days
    elsewhere = [
        {
            "municipality": c,
            "name": _name(region, c),
            "totals": shown_of(c, period_totals(c)),
            "client_days": days_of[c],
        }
        for c in _elsewhere(facts, region)
    ]
    document = {
        "region": region.code,
        "from": str(first),
        "to": str(last),
        "municipalities": municipalities,
        "totals": {c: sum(int(t.total[c] or 0) for t in exact_of.values()) for c in SHOWN_COUNTS},
        "responsible_elsewhere": elsewhere,
    }
    return Report(document, rows, f"region-flows-{first}-{last}.csv")


async def region_matrix(
    pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month, today: date | None = None
) -> Report:
    """Regional solidarity: whose clients are placed in which municipality's facilities (aggregates only), as
    placements started in the period (`clients`) and as client-days passed in the period."""
    principal.require(Role.REPORTS_REGION)
    threshold = region.reporting.small_number_threshold
    matrix = solidarity_matrix(await load_facts(pool), first, last, today or date.today())
    cells = [
        disclose_counts(
            {
                "responsible": responsible,
                "facility_municipality": facility,
                "clients": cell.placements,
                "client_days": cell.client_days,
                "responsible_elsewhere": not region.in_region(responsible),
            },
            ["clients"],
            threshold,
            exact=False,
        )
        for (responsible, facility), cell in matrix.items()
    ]
    rows = [{"from": str(first), "to": str(last), **c} for c in cells]
    return Report({"from": str(first), "to": str(last), "cells": cells}, rows, f"matrix-{first}-{last}.csv")


async def _settlement(pool: asyncpg.Pool, region: Region, year: int, today: date | None) -> Settlement:
    try:
        return settle(region, await load_facts(pool), year, today or date.today())
    except NoBudgetForYear as missing:
        raise InvalidField("year", str(missing), kind="no-budget-for-year", year=missing.year) from missing


def _days_columns(region: Region, days: dict[str, int]) -> dict[str, int]:
    return {f"client_days_{form}": days.get(form, 0) for form in sorted(region.care_forms)}


def _cost_row(region: Region, c: Cost) -> dict[str, Any]:
    return {
        "municipality": c.municipality,
        "name": _name(region, c.municipality),
        "year": c.year,
        "cost_eur": round(c.total_eur, 2),
        "cost_realised_eur": round(c.realised_eur, 2),
        "cost_projected_eur": round(c.projected_eur, 2),
        "mo_cost_eur": round(c.mo_eur, 2),
    }


def _money_row(region: Region, m: MunicipalityMoney) -> dict[str, Any]:
    return _cost_row(region, m.cost) | {
        "share": round(m.share, 6),
        "budget_eur": m.budget_eur,
        "cost_borne_eur": m.borne_eur,  # with the MO cost where the region's funding rule puts it
        "balance_eur": round(m.balance_eur, 2),
        "settlement_eur": m.settlement_eur,
        **_days_columns(region, m.cost.days.total),
    }


def _money_labels(region: Region, settlement: Settlement) -> dict[str, Any]:
    """What the money figures are: illustrative or not, realised up to when and projected to when."""
    return {
        "illustrative": region.money.illustrative,
        "mo_funding": region.money.mo_funding.value,
        "realised_up_to": str(settlement.as_of),
        "projected_to": f"{settlement.year}-12-31",
    }


async def municipality_budget(
    pool: asyncpg.Pool, region: Region, principal: Principal, code: str, year: int, today: date | None = None
) -> Report:
    """Client-days x tariff for the clients this municipality is responsible for, against its budget under the
    distribution model, and what it pays into (+) or receives from (-) the regional pot."""
    may_read_municipality(principal, code)
    _in_region(region, code)
    settlement = await _settlement(pool, region, year, today)
    found = [m for m in settlement.municipalities if m.cost.municipality == code]
    if not found:
        raise NotFound(f"region {region.code} has no budget shares for {code}")
    row, days = _money_row(region, found[0]), found[0].cost.days
    document = row | _money_labels(region, settlement)
    document |= {
        "client_days": days.total,
        "client_days_realised": days.realised,
        "client_days_projected": days.projected,
    }
    return Report(document, [row], f"budget-{code}-{year}.csv")


async def region_budget(
    pool: asyncpg.Pool, region: Region, principal: Principal, year: int, today: date | None = None
) -> Report:
    """The region's municipalities against their budgets and the settlement (sums to zero), and apart from
    it the cost of clients whose responsible municipality lies outside the region: costs to recover."""
    principal.require(Role.REPORTS_REGION)
    settlement = await _settlement(pool, region, year, today)
    rows = [_money_row(region, m) for m in settlement.municipalities]
    elsewhere = [_cost_row(region, c) | _days_columns(region, c.days.total) for c in settlement.to_recover]

    def summed(items: list[dict[str, Any]], key: str) -> float:
        return round(float(sum(r[key] for r in items)), 2) + 0.0  # + 0.0: never "-0.0"

    keys = ("budget_eur", "cost_eur", "cost_realised_eur", "cost_projected_eur", "settlement_eur")
    totals = {k: summed(rows, k) for k in keys} | {"cost_to_recover_eur": summed(elsewhere, "cost_eur")}
    document = {"region": region.code, "year": year, "municipalities": rows, "totals": totals}
    document |= _money_labels(region, settlement) | {"responsible_elsewhere": elsewhere}
    csv_rows = [r | {"responsible_elsewhere": False} for r in rows]
    csv_rows += [dict.fromkeys(rows[0] if rows else (), None) | r | {"responsible_elsewhere": True} for r in elsewhere]
    return Report(document, csv_rows, f"region-budget-{year}.csv")


async def region_wijken(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    """Facility places now, and outflow homes moved into up to the end of the period, per CBS wijk."""
    principal.require(Role.REPORTS_REGION)
    threshold = region.reporting.small_number_threshold
    rows = [
        disclose_counts(w, ["outflow_homes"], threshold, exact=False)
        for w in await places.wijken(pool, region, last.last_day())
    ]
    document = {"region": region.code, "from": str(first), "to": str(last), "wijken": rows}
    return Report(document, rows, f"wijken-{first}-{last}.csv")


async def region_occupancy(pool: asyncpg.Pool, region: Region, principal: Principal, last: Month) -> Report:
    """Places (the latest capacity each facility registered) and those taken on the last day of the period."""
    principal.require(Role.REPORTS_REGION)
    threshold = region.reporting.small_number_threshold
    facilities = await places.occupancy(pool, last.last_day())
    by_form: dict[str, dict[str, int]] = {}
    for f in facilities:
        form = by_form.setdefault(f["care_form"], {"capacity": 0, "occupied": 0})
        form["capacity"] += f["capacity"]
        form["occupied"] += f["occupied"]
    shown = [disclose_counts(f, ["occupied"], threshold, exact=False) for f in facilities]
    care_forms = [
        disclose_counts({"care_form": k, **v}, ["occupied"], threshold, exact=False) for k, v in sorted(by_form.items())
    ]
    document = {"region": region.code, "on": str(last.last_day()), "facilities": shown, "care_forms": care_forms}
    return Report(document, shown, f"occupancy-{last}.csv")


async def region_housing(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    """Per corporation, municipality and quota year: the quota, offers made in the period and their outcome
    (the accepted ones are the quota used), and what is left of the quota."""
    principal.require(Role.REPORTS_REGION)
    rows = await places.offers(pool, first.first_day(), last.next().first_day())
    document = {"region": region.code, "from": str(first), "to": str(last), "offers": rows}
    return Report(document, rows, f"housing-{first}-{last}.csv")
