"""HTTP reports (JSON, or CSV with ?format=csv or Accept: text/csv)."""

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS
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
    report = flow_report(await load_facts(context.pool), code, first, last)
    if as_csv:
        return csv_response(
            [{"municipality": code, **row} for row in report.rows()], f"flows-{code}-{first}-{last}.csv"
        )
    return JSONResponse(report.as_json())


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
    facts = await load_facts(context.pool)
    totals_of = {code: flow_report(facts, code, first, last).totals for code in region.municipalities}
    totals = {c: sum(t[c] for t in totals_of.values()) for c in COUNT_COLUMNS + STATE_COLUMNS}
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
    cells = matrix_cells(await load_facts(context.pool), first, last)
    if as_csv:
        return csv_response([{"from": str(first), "to": str(last), **c} for c in cells], f"matrix-{first}-{last}.csv")
    return JSONResponse({"from": str(first), "to": str(last), "cells": cells})
