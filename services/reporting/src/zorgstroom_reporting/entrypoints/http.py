"""HTTP reports (JSON, or CSV with ?format=csv or Accept: text/csv): parameters in, a rendered report out.
Who may read what, and each report's shape, are in the query layer (zorgstroom_reporting.service)."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from zorgstroom_reporting import service
from zorgstroom_reporting.domain.months import Month
from zorgstroom_runtime.apidocs import Responses
from zorgstroom_runtime.app import ContextDep
from zorgstroom_runtime.auth import CurrentPrincipal
from zorgstroom_runtime.errors import InvalidField
from zorgstroom_runtime.telemetry import current_trace_id


def audit_subject(request: Request) -> str:
    """The path with what the report covered as answered, not as asked: the months and year after their
    defaults (set in request.state by `period` and `_year`), and format=csv when the answer was CSV."""
    answered = request.state
    known: list[tuple[str, str]] = []
    if (months := getattr(answered, "report_months", None)) is not None:
        known += [("from", str(months[0])), ("to", str(months[1]))]
    if (year := getattr(answered, "report_year", None)) is not None:
        known.append(("year", str(year)))
    if getattr(answered, "report_csv", False):
        known.append(("format", "csv"))
    return request.url.path + (f"?{urlencode(known)}" if known else "")


async def audited_read(request: Request, principal: CurrentPrincipal, context: ContextDep) -> AsyncIterator[None]:
    """Every report answered leaves an audit line (`report.read`, the path and what it covered as subject), so
    the person who read a figure is on record like a reader of client data; a refused one is audited as such
    by the runtime. Written before the answer goes out (scope="function"): no report without its line."""
    yield
    subject = audit_subject(request)
    async with context.unit_of_work(correlation_id=current_trace_id()) as uow:
        await uow.audit_as(principal, "report.read", subject=subject)


router = APIRouter(prefix="/v1", tags=["reports"], dependencies=[Depends(audited_read, scope="function")])
MAX_MONTHS = 120

FormatParam = Annotated[str | None, Query(alias="format", pattern="^(json|csv)$")]
# A month from 2000 (the first year reported on) in the form YYYY-MM, or empty for the default; one after the
# current month is refused. Documented only: `period` checks it, and names `from` or `to` when it refuses one.
MONTH = {"pattern": r"^(2\d{3}-(0[1-9]|1[0-2]))?$"}
# What every report answers, beside the errors every route documents (zorgstroom_runtime.apidocs).
REPORT: Responses = {
    200: {
        "description": "The report: JSON, or CSV with ?format=csv or Accept: text/csv",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    422: {
        "description": "The request is not valid: a parameter's form, a month after the current one, or a budget year"
        " without national budget data"
    },
}
OF_MUNICIPALITY: Responses = REPORT | {404: {"description": "The code is not a municipality of the region"}}


def today() -> date:
    """The day reports are asked on: the months after it have not happened, and are not reported on."""
    return date.today()


Today = Annotated[date, Depends(today)]


def period(
    request: Request,
    on: Today,
    start: Annotated[
        str | None, Query(alias="from", json_schema_extra=MONTH, description="First month, YYYY-MM")
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", json_schema_extra=MONTH, description="Last month, YYYY-MM; at the latest this month"),
    ] = None,
) -> tuple[Month, Month]:
    """The report's months; by default the current calendar year up to this month. A month after the current
    one is refused: its figures would only repeat today's clients, and every repeat is another look at them."""
    current = Month.of(on)
    first = _month("from", start) if start else Month(current.year, 1)
    if first > current:
        raise _invalid("from", f"`from` lies after {current}, the current month")
    last = _month("to", end) if end else min(Month(first.year, 12), current)
    if last > current:
        raise _invalid("to", f"`to` lies after {current}, the current month")
    if last < first:
        raise _invalid("to", "`to` lies before `from`")
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise _invalid("to", f"a report spans at most {MAX_MONTHS} months")
    request.state.report_months = (first, last)  # for the audit line's subject
    return first, last


def _month(field: str, text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as error:
        raise _invalid(field, str(error)) from error


def _invalid(field: str, message: str) -> InvalidField:
    return InvalidField(field, message)


Period = Annotated[tuple[Month, Month], Depends(period)]


def wants_csv(request: Request, fmt: FormatParam = None) -> bool:
    """CSV when asked with ?format=csv or Accept: text/csv; JSON otherwise."""
    request.state.report_csv = fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", ""))
    return bool(request.state.report_csv)


AsCsv = Annotated[bool, Depends(wants_csv)]


def _year(
    request: Request,
    on: Today,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Budget year; this year by default.")] = None,
) -> int:
    request.state.report_year = year or on.year  # for the audit line's subject
    return int(request.state.report_year)


Year = Annotated[int, Depends(_year)]


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


def render(report: service.Report, as_csv: bool) -> Response:
    return csv_response(report.rows, report.filename) if as_csv else JSONResponse(report.document)


@router.get(
    "/municipalities/{code}/flows",
    summary="Monthly flows of one municipality",
    response_model=None,
    responses=OF_MUNICIPALITY,
)
async def municipality_flows(
    code: str, principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv
) -> Response:
    return render(await service.municipality_flows(context.pool, context.region, principal, code, *months), as_csv)


@router.get("/region/flows", summary="Totals per municipality of the region", response_model=None, responses=REPORT)
async def region_flows(
    principal: CurrentPrincipal, context: ContextDep, months: Period, on: Today, as_csv: AsCsv
) -> Response:
    return render(await service.region_flows(context.pool, context.region, principal, *months, on), as_csv)


@router.get(
    "/region/matrix", summary="Responsible municipality x facility municipality", response_model=None, responses=REPORT
)
async def region_matrix(
    principal: CurrentPrincipal, context: ContextDep, months: Period, on: Today, as_csv: AsCsv
) -> Response:
    """Regional solidarity: whose clients are placed in which municipality's facilities (aggregates only)."""
    return render(await service.region_matrix(context.pool, context.region, principal, *months, on), as_csv)


@router.get(
    "/municipalities/{code}/budget",
    summary="Cost against budget of one municipality",
    response_model=None,
    responses=OF_MUNICIPALITY,
)
async def municipality_budget(
    code: str, principal: CurrentPrincipal, context: ContextDep, year: Year, on: Today, as_csv: AsCsv
) -> Response:
    """Client-days x tariff for the clients this municipality is responsible for, against its budget under the
    distribution model, and what it pays into (+) or receives from (-) the regional pot."""
    return render(await service.municipality_budget(context.pool, context.region, principal, code, year, on), as_csv)


@router.get("/region/budget", summary="Regional cost, budget and settlement", response_model=None, responses=REPORT)
async def region_budget(
    principal: CurrentPrincipal, context: ContextDep, year: Year, on: Today, as_csv: AsCsv
) -> Response:
    return render(await service.region_budget(context.pool, context.region, principal, year, on), as_csv)


@router.get(
    "/region/wijken",
    summary="Places and outflow homes per wijk against their caps",
    response_model=None,
    responses=REPORT,
)
async def region_wijken(principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv) -> Response:
    """Facility places now, and outflow homes moved into up to the end of the period, per CBS wijk."""
    return render(await service.region_wijken(context.pool, context.region, principal, *months), as_csv)


@router.get(
    "/region/occupancy",
    summary="Occupancy per facility and care form at the end of the period",
    response_model=None,
    responses=REPORT,
)
async def region_occupancy(principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv) -> Response:
    """Places (the latest capacity each facility registered) and those taken on the last day of the period."""
    return render(await service.region_occupancy(context.pool, context.region, principal, months[1]), as_csv)


@router.get(
    "/region/housing",
    summary="Offers made, accepted, declined and lapsed; quota use",
    response_model=None,
    responses=REPORT,
)
async def region_housing(principal: CurrentPrincipal, context: ContextDep, months: Period, as_csv: AsCsv) -> Response:
    """Per corporation, municipality and quota year: the quota, offers made in the period and their outcome
    (the accepted ones are the quota used), and what is left of the quota."""
    return render(await service.region_housing(context.pool, context.region, principal, *months), as_csv)
