"""HTTP reports (JSON, or CSV with ?format=csv or Accept: text/csv)."""

import csv
import io
from collections import Counter
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from zorgstroom_reporting.domain.disclosure import disclose_counts
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, other_endings_by_reason
from zorgstroom_reporting.queries import places
from zorgstroom_reporting.queries.flows import flow_report, load_facts, matrix_cells
from zorgstroom_reporting.queries.months import Month
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal, OrganisationKind, Principal, Role
from zorgstroom_runtime.problems import Problem

router = APIRouter(prefix="/v1", tags=["reports"])
MAX_MONTHS = 120

FormatParam = Annotated[str | None, Query(alias="format", pattern="^(json|csv)$")]


def period(
    start: Annotated[str | None, Query(alias="from", description="First month, YYYY-MM")] = None,
    end: Annotated[str | None, Query(alias="to", description="Last month, YYYY-MM")] = None,
) -> tuple[Month, Month]:
    """The report's months; by default the current calendar year."""
    first = _month("from", start) if start else Month(date.today().year, 1)
    last = _month("to", end) if end else Month(first.year, 12)
    if last < first:
        raise _invalid("to", "`to` lies before `from`")
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise _invalid("to", f"a report spans at most {MAX_MONTHS} months")
    return first, last


def _month(field: str, text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as error:
        raise _invalid(field, str(error)) from error


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        "Invalid request",
        f"the request is not valid: {field}: {message}",
        kind="invalid-request",
        errors=[{"field": field, "message": message, "type": "value_error"}],
    )


Period = Annotated[tuple[Month, Month], Depends(period)]


SHOWN_COUNTS = COUNT_COLUMNS + STATE_COLUMNS


def _is_responsible(principal: Principal, code: str) -> bool:
    return principal.organisation_kind is OrganisationKind.MUNICIPALITY and principal.organisation_id == code


def may_read_municipality(principal: Principal, code: str) -> None:
    if Role.REPORTS_REGION in principal.roles:
        return
    principal.require(Role.REPORTS_OWN)
    if principal.organisation_kind is not OrganisationKind.MUNICIPALITY or principal.organisation_id != code:
        raise Problem(403, "Forbidden", "a municipality reads only its own reports")


def wants_csv(request: Request, fmt: FormatParam = None) -> bool:
    """CSV when asked with ?format=csv or Accept: text/csv; JSON otherwise."""
    return fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))


AsCsv = Annotated[bool, Depends(wants_csv)]


def csv_response(rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["empty"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/municipalities/{code}/flows", summary="Monthly flows of one municipality", response_model=None)
async def municipality_flows(
    code: str,
    principal: CurrentPrincipal,
    context: ContextDep,
    months: Period,
    as_csv: AsCsv,
) -> Response:
    may_read_municipality(principal, code)
    if not context.region.in_region(code):
        raise Problem(404, "Not found", f"{code} is not a municipality of region {context.region.code}")
    first, last = months
    policy = context.region.reporting
    facts = await load_facts(context.pool, code)
    report = flow_report(facts, code, first, last, policy.relapse_months)
    exact = _is_responsible(principal, code)
    threshold = policy.small_number_threshold
    by_reason = other_endings_by_reason(facts, code, first, last)
    rows = [
        disclose_counts(row, SHOWN_COUNTS, threshold, exact=exact)
        | {"ended_other_by_reason": disclose_counts(by_reason[month], by_reason[month], threshold, exact=exact)}
        for month, row in zip(sorted(by_reason), report.rows(), strict=True)
    ]
    if as_csv:
        return csv_response(
            [
                {"municipality": code, **row, "ended_other_by_reason": _pairs(row["ended_other_by_reason"])}
                for row in rows
            ],
            f"flows-{code}-{first}-{last}.csv",
        )
    summed: Counter[str] = Counter()
    for reasons in by_reason.values():
        summed.update(reasons)
    totals = disclose_counts(report.totals, SHOWN_COUNTS, threshold, exact=exact) | {
        "ended_other_by_reason": disclose_counts(dict(sorted(summed.items())), summed, threshold, exact=exact)
    }
    return JSONResponse(report.as_json() | {"months": rows, "totals": totals})


def _pairs(counts: object) -> str:
    """A breakdown in one CSV cell: `19=3;21=1` (WMO588 code = count)."""
    return ";".join(f"{k}={v}" for k, v in counts.items()) if isinstance(counts, dict) else ""


@router.get("/region/flows", summary="Totals per municipality of the region", response_model=None)
async def region_flows(
    principal: CurrentPrincipal,
    context: ContextDep,
    months: Period,
    as_csv: AsCsv,
) -> Response:
    if Role.REPORTS_REGION not in principal.roles:
        principal.require(Role.REPORTS_OWN)
    first, last = months
    region = context.region
    policy = region.reporting
    facts = await load_facts(context.pool)
    exact_of = {
        code: flow_report(facts, code, first, last, policy.relapse_months).totals for code in region.municipalities
    }
    totals = {c: sum(t[c] for t in exact_of.values()) for c in COUNT_COLUMNS + STATE_COLUMNS}
    totals_of = {
        code: disclose_counts(t, SHOWN_COUNTS, policy.small_number_threshold, exact=_is_responsible(principal, code))
        for code, t in exact_of.items()
    }
    municipalities = [
        {"municipality": m.code, "name": m.name, "totals": totals_of[m.code]} for m in region.municipalities.values()
    ]
    if as_csv:
        rows: list[dict[str, object]] = [
            {"municipality": m.code, "name": m.name, "from": str(first), "to": str(last), **totals_of[m.code]}
            for m in region.municipalities.values()
        ]
        return csv_response(rows, f"region-flows-{first}-{last}.csv")
    return JSONResponse(
        {"region": region.code, "from": str(first), "to": str(last), "municipalities": municipalities, "totals": totals}
    )


@router.get("/region/matrix", summary="Responsible municipality x facility municipality", response_model=None)
async def region_matrix(principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv) -> Response:
    """Regional solidarity: whose clients are placed in which municipality's facilities (aggregates only)."""
    principal.require(Role.REPORTS_REGION)
    first, last = months
    threshold = context.region.reporting.small_number_threshold
    cells = [
        disclose_counts(c, ["clients"], threshold, exact=False)
        for c in matrix_cells(await load_facts(context.pool), first, last)
    ]
    if as_csv:
        return csv_response([{"from": str(first), "to": str(last), **c} for c in cells], f"matrix-{first}-{last}.csv")
    return JSONResponse({"from": str(first), "to": str(last), "cells": cells})


def _year(
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Budget year; this year by default.")] = None,
) -> int:
    return year or date.today().year


Year = Annotated[int, Depends(_year)]


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


@router.get("/municipalities/{code}/budget", summary="Cost against budget of one municipality", response_model=None)
async def municipality_budget(
    code: str, principal: CurrentPrincipal, context: ContextDep, year: Year, as_csv: AsCsv
) -> Response:
    """Client-days x tariff for the clients this municipality is responsible for, against its budget under the
    distribution model, and what it pays into (+) or receives from (-) the regional pot."""
    may_read_municipality(principal, code)
    if not context.region.in_region(code):
        raise Problem(404, "Not found", f"{code} is not a municipality of region {context.region.code}")
    rows = [r for r in places.money(context.region, await load_facts(context.pool), year) if r.municipality == code]
    if not rows:
        raise Problem(404, "Not found", f"region {context.region.code} has no budget shares for {code}")
    if as_csv:
        return csv_response([_money_row(rows[0])], f"budget-{code}-{year}.csv")
    return JSONResponse(_money_row(rows[0]) | {"client_days": rows[0].client_days})


@router.get("/region/budget", summary="Regional cost, budget and settlement", response_model=None)
async def region_budget(principal: CurrentPrincipal, context: ContextDep, year: Year, as_csv: AsCsv) -> Response:
    principal.require(Role.REPORTS_REGION)
    rows = places.money(context.region, await load_facts(context.pool), year)
    if as_csv:
        return csv_response([_money_row(r) for r in rows], f"region-budget-{year}.csv")
    totals = {k: round(sum(getattr(r, k) for r in rows), 2) for k in ("budget_eur", "cost_eur", "settlement_eur")}
    return JSONResponse(
        {"region": context.region.code, "year": year, "municipalities": [_money_row(r) for r in rows], "totals": totals}
    )


@router.get("/region/wijken", summary="Places and outflow homes per wijk against their caps", response_model=None)
async def region_wijken(principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv) -> Response:
    """Facility places now, and outflow homes moved into up to the end of the period, per CBS wijk."""
    principal.require(Role.REPORTS_REGION)
    first, last = months
    threshold = context.region.reporting.small_number_threshold
    rows = [
        disclose_counts(w, ["outflow_homes"], threshold, exact=False)
        for w in await places.wijken(context.pool, context.region, _last_day(last))
    ]
    if as_csv:
        return csv_response(rows, f"wijken-{first}-{last}.csv")
    return JSONResponse({"region": context.region.code, "from": str(first), "to": str(last), "wijken": rows})


@router.get(
    "/region/occupancy", summary="Occupancy per facility and care form at the end of the period", response_model=None
)
async def region_occupancy(principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv) -> Response:
    """Places (the latest capacity each facility registered) and those taken on the last day of the period."""
    principal.require(Role.REPORTS_REGION)
    _, last = months
    threshold = context.region.reporting.small_number_threshold
    facilities = await places.occupancy(context.pool, _last_day(last))
    by_form: dict[str, dict[str, int]] = {}
    for f in facilities:
        form = by_form.setdefault(f["care_form"], {"capacity": 0, "occupied": 0})
        form["capacity"] += f["capacity"]
        form["occupied"] += f["occupied"]
    shown = [disclose_counts(f, ["occupied"], threshold, exact=False) for f in facilities]
    if as_csv:
        return csv_response(shown, f"occupancy-{last}.csv")
    care_forms = [
        disclose_counts({"care_form": k, **v}, ["occupied"], threshold, exact=False) for k, v in sorted(by_form.items())
    ]
    return JSONResponse(
        {"region": context.region.code, "on": str(_last_day(last)), "facilities": shown, "care_forms": care_forms}
    )


@router.get("/region/housing", summary="Offers made, accepted, declined and lapsed; quota use", response_model=None)
async def region_housing(principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv) -> Response:
    """Per corporation, municipality and quota year: offers made in the period and their outcome; the
    accepted ones are the quota used."""
    principal.require(Role.REPORTS_REGION)
    first, last = months
    rows = await places.offers(context.pool, first.first_day(), last.next().first_day())
    if as_csv:
        return csv_response(rows, f"housing-{first}-{last}.csv")
    return JSONResponse({"region": context.region.code, "from": str(first), "to": str(last), "offers": rows})


def _last_day(month: Month) -> date:
    return date.fromordinal(month.next().first_day().toordinal() - 1)
