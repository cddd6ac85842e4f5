"""Reporting's query layer: who may read which report, and each report's shape, free of HTTP.

Every function receives narrow dependencies (the pool to read the projections from, the region and
its policies, the caller) and returns a `Report`: the JSON document and the rows of its CSV. Refusals
are plain application errors; the HTTP module only parses parameters and renders.
"""

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from typing import Any

import asyncpg

from zorgstroom_reporting.domain.disclosure import METHOD, Rounding, protect_days
from zorgstroom_reporting.domain.facts import Facts
from zorgstroom_reporting.domain.flows import totals
from zorgstroom_reporting.domain.kept import flows_of
from zorgstroom_reporting.domain.money import Cost, MunicipalityMoney, NoBudgetForYear, Settlement, in_place, settle
from zorgstroom_reporting.domain.months import Month, months_between
from zorgstroom_reporting.domain.offers import housing_rows
from zorgstroom_reporting.domain.solidarity import monthly_matrix
from zorgstroom_reporting.queries import kept, places
from zorgstroom_reporting.queries.disclosure_key import disclosure_secret
from zorgstroom_reporting.queries.documents import SHOWN_COUNTS, flat, shown
from zorgstroom_reporting.queries.flows import load_facts
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role
from zorgstroom_runtime.errors import Forbidden, InvalidField, NotFound
from zorgstroom_runtime.offload import computed_from
from zorgstroom_runtime.region import Region


@dataclass(frozen=True)
class Report:
    document: dict[str, Any]  # the JSON answer
    rows: list[dict[str, Any]]  # the CSV answer, one dict per line
    filename: str  # of the CSV download


def is_responsible(principal: Principal, code: str) -> bool:
    return principal.organisation_kind is OrganisationKind.MUNICIPALITY and principal.organisation_id == code


def may_read_municipality(principal: Principal, region: Region, code: str) -> None:
    if Role.REPORTS_REGION in principal.roles:  # staff of this region only, not of another
        principal.require_region_staff_of(region.code, Role.REPORTS_REGION)
        return
    principal.require(Role.REPORTS_OWN)
    if principal.organisation_kind is not OrganisationKind.MUNICIPALITY or principal.organisation_id != code:
        raise Forbidden("a municipality reads only its own reports")


def _in_region(region: Region, code: str) -> None:
    if not region.in_region(code):
        raise NotFound(f"{code} is not a municipality of region {region.code}")


async def _rounding(pool: asyncpg.Pool, exact: bool) -> Rounding:
    return Rounding(await disclosure_secret(pool), exact=exact)


def _csv_disclosure(rows: list[dict[str, Any]], rounding: Rounding) -> list[dict[str, Any]]:
    method = str(rounding.label(0)["method"])
    return [r | {"disclosure": method} for r in rows]


async def municipality_flows(
    pool: asyncpg.Pool,
    region: Region,
    principal: Principal,
    code: str,
    first: Month,
    last: Month,
    today: date | None = None,
) -> Report:
    may_read_municipality(principal, region, code)
    _in_region(region, code)
    rounding, threshold = (
        await _rounding(pool, is_responsible(principal, code)),
        region.reporting.small_number_threshold,
    )
    await kept.ensure_horizon(pool, region, max(Month.of(today or date.today()), last))
    return await computed_from(
        partial(kept.municipality_months, pool, code, first, last),
        lambda months: _municipality_flows(region, code, months, rounding, threshold, first, last),
    )


def _municipality_flows(
    region: Region,
    code: str,
    kept_months: kept.KeptMonths,
    rounding: Rounding,
    threshold: int,
    first: Month,
    last: Month,
) -> Report:
    """municipality_flows' shaping of the kept cells of each month, in a worker thread (zorgstroom_runtime.offload)."""
    months = {
        m: flows_of(kept_months.cells.get(m, []), region, rounding.exact, kept_months.measures.get(m, {}), threshold)
        for m in months_between(first, last)
    }
    shown_months = [{"month": str(m)} | shown(f) for m, f in sorted(months.items())]
    document = {
        "municipality": code,
        "from": str(first),
        "to": str(last),
        "months": shown_months,
        "totals": shown(totals(months)),
        "disclosure": rounding.label(threshold),
    }
    rows = _csv_disclosure([{"municipality": code, **flat(m)} for m in shown_months], rounding)
    return Report(document, rows, f"flows-{code}-{first}-{last}.csv")


def _name(region: Region, code: str) -> str:
    known = region.municipalities.get(code) or region.national.get(code)
    return known.name if known else code


async def region_flows(
    pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month, today: date | None = None
) -> Report:
    """Every municipality's totals as the caller may see them (its own exactly); the region's totals are the
    sums of the protected totals, so they give no municipality's figure back."""
    if Role.REPORTS_REGION in principal.roles:
        principal.require_region_staff_of(region.code, Role.REPORTS_REGION)
    else:
        principal.require(Role.REPORTS_OWN)
    protected, on = await _rounding(pool, exact=False), today or date.today()
    await kept.ensure_horizon(pool, region, max(Month.of(on), last))
    return await computed_from(
        partial(kept.region_period, pool, first, last, Month.of(on)),
        lambda period: _region_flows(region, principal, period, protected, first, last, on),
    )


def _region_flows(
    region: Region,
    principal: Principal,
    period: kept.KeptRegion,
    protected: Rounding,
    first: Month,
    last: Month,
    on: date,
) -> Report:
    """region_flows' shaping of the kept period cells, in a worker thread (a few hundred rows, no history)."""
    threshold = region.reporting.small_number_threshold
    elsewhere = [c for c in period.named if not region.in_region(c)]  # national access: docs/domain.md, rule 12

    cells = period.cells()

    def period_totals(code: str, exact: bool) -> dict[str, Any]:
        return shown(flows_of(cells.get(code, []), region, exact))

    codes = [*region.municipalities, *elsewhere]
    hidden = {code: period_totals(code, exact=False) for code in codes}
    seen = {c: period_totals(c, exact=True) if is_responsible(principal, c) else hidden[c] for c in codes}
    rows = [
        {"municipality": m.code, "name": m.name, "from": str(first), "to": str(last), **flat(seen[m.code])}
        | {"disclosure": "exact" if is_responsible(principal, m.code) else METHOD}
        for m in region.municipalities.values()
    ]
    days_of: Counter[str] = Counter()
    for (responsible, _), cell in period.matrix.items():
        days_of[responsible] += cell.client_days
    document = {
        "region": region.code,
        "from": str(first),
        "to": str(last),
        "municipalities": [
            {"municipality": m.code, "name": m.name, "totals": seen[m.code]} for m in region.municipalities.values()
        ],
        "totals": {c: sum(int(hidden[m][c]) for m in region.municipalities) for c in SHOWN_COUNTS},
        "responsible_elsewhere": [
            {"municipality": c, "name": _name(region, c), "totals": seen[c], "client_days": days_of[c]}
            for c in elsewhere
            if days_of[c] or any(seen[c][k] for k in SHOWN_COUNTS)  # listed only with a figure to show
        ],
        "disclosure": protected.label(threshold) | {"exact_for": [c for c in codes if is_responsible(principal, c)]},
    }
    return Report(document, rows, f"region-flows-{first}-{last}.csv")


async def region_matrix(
    pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month, today: date | None = None
) -> Report:
    """Regional solidarity: whose clients are placed in which municipality's facilities (aggregates only), as
    placements started in the period (`clients`) and as client-days passed in the period."""
    principal.require_region_staff_of(region.code, Role.REPORTS_REGION)
    rounding, on = await _rounding(pool, exact=False), today or date.today()
    await kept.ensure_horizon(pool, region, max(Month.of(on), last))
    matrix = await kept.region_matrix(pool, first, last, Month.of(on))
    cells = [
        {
            "responsible": responsible,
            "facility_municipality": facility,
            "clients": cell.placements,
            "client_days": cell.client_days,
            "responsible_elsewhere": not region.in_region(responsible),
        }
        for (responsible, facility), cell in matrix.items()
    ]
    rows = _csv_disclosure([{"from": str(first), "to": str(last), **c} for c in cells], rounding)
    document: dict[str, Any] = {"from": str(first), "to": str(last), "cells": cells}
    document["disclosure"] = rounding.label(region.reporting.small_number_threshold)
    return Report(document, rows, f"matrix-{first}-{last}.csv")


def _settlement(region: Region, facts: Facts, year: int, today: date, rounding: Rounding) -> Settlement:
    """The settlement as the viewer may see it. Exact: realised up to today, projected after it. Protected: as of
    the first day of this month, every euro from rounded client-days (domain/disclosure.py, protect_days), so it
    still sums to zero and gives no municipality's days back, however often it is asked."""
    try:
        if rounding.exact:
            return settle(region, facts, year, today)
        cut = Month.of(today).first_day()
        cells = monthly_matrix(facts, Month(year, 1), Month(year, 12), cut)
        return settle(region, facts, year, cut, protect_days(cells, in_place(facts, cut), year, cut, rounding))
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


def _money_labels(region: Region, settlement: Settlement, settled: Settlement | None = None) -> dict[str, Any]:
    """What the money figures are: illustrative or not, realised up to when and projected to when, and the day
    the settlement (cost borne, balance, settlement) is worked out as of, when that is another."""
    return {
        "illustrative": region.money.illustrative,
        "mo_funding": region.money.mo_funding.value,
        "realised_up_to": str(settlement.as_of),
        "projected_to": f"{settlement.year}-12-31",
        "settlement_as_of": str((settled or settlement).as_of),
    }


def _of(settlement: Settlement, code: str, region: Region) -> MunicipalityMoney:
    found = [m for m in settlement.municipalities if m.cost.municipality == code]
    if not found:
        raise NotFound(f"region {region.code} has no budget shares for {code}")
    return found[0]


async def municipality_budget(
    pool: asyncpg.Pool, region: Region, principal: Principal, code: str, year: int, today: date | None = None
) -> Report:
    """Client-days x tariff for the clients this municipality is responsible for, against its budget under the
    distribution model, and what it pays into (+) or receives from (-) the regional pot."""
    may_read_municipality(principal, region, code)
    _in_region(region, code)
    rounding, on = await _rounding(pool, is_responsible(principal, code)), today or date.today()

    # What it pays or receives is worked out from everyone's rounded days, for itself too: from the exact days
    # its settlement would move with every other municipality's clients. Its own days and cost are exact.
    def settlements(facts: Facts) -> tuple[Settlement, Settlement]:
        settled = _settlement(region, facts, year, on, replace(rounding, exact=False))
        return settled, _settlement(region, facts, year, on, rounding) if rounding.exact else settled

    settled, shown = await computed_from(partial(load_facts, pool), settlements)
    own, fair = _of(shown, code, region), _of(settled, code, region)
    row = _money_row(region, own) | {
        "cost_borne_eur": fair.borne_eur,
        "balance_eur": round(fair.balance_eur, 2),
        "settlement_eur": fair.settlement_eur,
    }
    document = row | _money_labels(region, shown, settled)
    document |= {
        "client_days": own.cost.days.total,
        "client_days_realised": own.cost.days.realised,
        "client_days_projected": own.cost.days.projected,
        "disclosure": rounding.label(region.reporting.small_number_threshold)
        | ({"settlement": f"{METHOD}, as every viewer sees it"} if rounding.exact else {}),
    }
    return Report(document, _csv_disclosure([row], rounding), f"budget-{code}-{year}.csv")


async def region_budget(
    pool: asyncpg.Pool, region: Region, principal: Principal, year: int, today: date | None = None
) -> Report:
    """The region's municipalities against their budgets and the settlement (sums to zero), and apart from
    it the cost of clients whose responsible municipality lies outside the region: costs to recover."""
    principal.require_region_staff_of(region.code, Role.REPORTS_REGION)
    rounding = await _rounding(pool, exact=False)
    on = today or date.today()
    settlement = await computed_from(
        partial(load_facts, pool), lambda facts: _settlement(region, facts, year, on, rounding)
    )
    rows = [_money_row(region, m) for m in settlement.municipalities]
    elsewhere = [
        _cost_row(region, c) | _days_columns(region, c.days.total)
        for c in settlement.to_recover
        if any(c.days.total.values())  # listed only with a figure to show
    ]

    def summed(items: list[dict[str, Any]], key: str) -> float:
        return round(float(sum(r[key] for r in items)), 2) + 0.0  # + 0.0: never "-0.0"

    keys = ("budget_eur", "cost_eur", "cost_realised_eur", "cost_projected_eur", "settlement_eur")
    totals = {k: summed(rows, k) for k in keys} | {"cost_to_recover_eur": summed(elsewhere, "cost_eur")}
    document = {"region": region.code, "year": year, "municipalities": rows, "totals": totals}
    document |= _money_labels(region, settlement) | {"responsible_elsewhere": elsewhere}
    document["disclosure"] = rounding.label(region.reporting.small_number_threshold)
    csv_rows = [r | {"responsible_elsewhere": False} for r in rows]
    csv_rows += [dict.fromkeys(rows[0] if rows else (), None) | r | {"responsible_elsewhere": True} for r in elsewhere]
    return Report(document, _csv_disclosure(csv_rows, rounding), f"region-budget-{year}.csv")


async def region_wijken(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    """Facility places now, and outflow homes moved into up to the end of the period, per CBS wijk."""
    principal.require_region_staff_of(region.code, Role.REPORTS_REGION)
    rounding, on = await _rounding(pool, exact=False), last.last_day()
    shown = []
    for w in await places.wijken(pool, region, on):
        clients = w.pop("outflow_clients")  # the same people in the window show the same figure in every month
        shown.append(w | {"outflow_homes": rounding.stock(("outflow_homes", w["wijk"]), clients)})
    rows = [w for w in shown if w["places"] or w["outflow_homes"]]  # a listed wijk must not say "1-4 homes"
    document: dict[str, Any] = {"region": region.code, "from": str(first), "to": str(last), "wijken": rows}
    document["disclosure"] = rounding.label(region.reporting.small_number_threshold)
    return Report(document, _csv_disclosure(rows, rounding), f"wijken-{first}-{last}.csv")


async def region_occupancy(pool: asyncpg.Pool, region: Region, principal: Principal, last: Month) -> Report:
    """Places (the latest capacity each facility registered, public) and those taken on the last day of the
    period: each facility's rounded, each care form's the sum of its facilities' rounded figures."""
    principal.require_region_staff_of(region.code, Role.REPORTS_REGION)
    rounding, on = await _rounding(pool, exact=False), last.last_day()
    facilities = []
    for f in await places.occupancy(pool, on):
        clients = f.pop("clients")  # the same people in place show the same figure on every day
        facilities.append(f | {"occupied": rounding.stock(("occupied", f["facility_id"]), clients)})
    by_form: dict[str, dict[str, int]] = {}
    for f in facilities:
        form = by_form.setdefault(f["care_form"], {"capacity": 0, "occupied": 0})
        form["capacity"] += f["capacity"]
        form["occupied"] += f["occupied"]
    care_forms = [{"care_form": k, **v} for k, v in sorted(by_form.items())]
    document: dict[str, Any] = {
        "region": region.code,
        "on": str(on),
        "facilities": facilities,
        "care_forms": care_forms,
    }
    document["disclosure"] = rounding.label(region.reporting.small_number_threshold)
    return Report(document, _csv_disclosure(facilities, rounding), f"occupancy-{last}.csv")


async def region_housing(pool: asyncpg.Pool, region: Region, principal: Principal, first: Month, last: Month) -> Report:
    """Per corporation, municipality and quota year: the quota, offers made in the period and their outcome
    (the accepted ones are the quota used), and what is left of the quota."""
    principal.require_region_staff_of(region.code, Role.REPORTS_REGION)
    rounding = await _rounding(pool, exact=False)
    quota = await places.quotas(pool, first.year, last.year)
    rows = housing_rows(await places.offer_counts(pool), quota, first, last, rounding.count)
    document: dict[str, Any] = {"region": region.code, "from": str(first), "to": str(last), "offers": rows}
    document["disclosure"] = rounding.label(region.reporting.small_number_threshold)
    return Report(document, _csv_disclosure(rows, rounding), f"housing-{first}-{last}.csv")
