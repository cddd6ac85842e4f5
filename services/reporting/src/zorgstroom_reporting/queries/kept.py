"""The kept report cells read back (projections/kept.py writes them): a few hundred rows per report, whatever
the history; the figures are shaped by domain/kept.py."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from zorgstroom_contracts.region import Region
from zorgstroom_reporting.domain.flows import STATE_COLUMNS
from zorgstroom_reporting.domain.kept import KeptCell, Measure
from zorgstroom_reporting.domain.months import Month, months_between
from zorgstroom_reporting.domain.solidarity import Cell
from zorgstroom_reporting.projections.kept import BREAKDOWNS, advance, secret_of


async def ensure_horizon(pool: asyncpg.Pool, region: Region, current: Month) -> None:
    """States kept up to `current` before a report reads them: the first report of a month rolls the horizon over
    if no event did (and the first one after the upgrade derives every aggregate)."""
    stored = await pool.fetchval("SELECT month FROM report_horizon")
    if stored is None or Month.of(stored) < current:
        async with pool.acquire() as conn, conn.transaction():
            await advance(conn, region, await secret_of(conn), current)


@dataclass
class KeptMonths:
    """One municipality's cells and measures per month."""

    cells: dict[Month, list[KeptCell]] = field(default_factory=lambda: defaultdict(list))
    measures: dict[Month, dict[tuple[str, str], Measure]] = field(default_factory=lambda: defaultdict(dict))


async def municipality_months(pool: asyncpg.Pool, code: str, first: Month, last: Month) -> KeptMonths:
    kept = KeptMonths()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        for r in await conn.fetch(
            "SELECT month, col, care_form, detail, n, shown FROM flow_cells WHERE municipality = $1"
            " AND month BETWEEN $2 AND $3",
            code,
            first.first_day(),
            last.first_day(),
        ):
            kept.cells[Month.of(r[0])].append(KeptCell(*r[1:]))
        for r in await conn.fetch(
            "SELECT month, col, scope, n, median, p90 FROM flow_measures WHERE municipality = $1"
            " AND month BETWEEN $2 AND $3",
            code,
            first.first_day(),
            last.first_day(),
        ):
            kept.measures[Month.of(r[0])][(r[1], r[2])] = Measure(r[3], r[4], r[5])
    return kept


@dataclass
class KeptRegion:
    """Every municipality's period cells (counts summed over the period, states at its last month), who is named
    as responsible, and the protected matrix of the period."""

    rows: list[asyncpg.Record]  # (municipality, column, care form, detail, n, shown): made into cells off the loop
    named: list[str]
    matrix: dict[tuple[str, str], Cell]

    def cells(self) -> dict[str, list[KeptCell]]:
        """Per municipality, its period cells (in the worker thread that shapes the report)."""
        cells: dict[str, list[KeptCell]] = defaultdict(list)
        for r in self.rows:
            cells[r[0]].append(KeptCell(r[1], r[2], r[3], r[4], r[5]))
        return cells


def _whole_years(first: Month, last: Month, before: int | None = None) -> tuple[list[int], list[date]]:
    """The period's whole years (those before `before`), read from the yearly sums, and its other months."""
    years = [y for y in range(first.year, last.year + 1) if first <= Month(y, 1) and Month(y, 12) <= last]
    years = [y for y in years if before is None or y < before]
    return years, [m.first_day() for m in months_between(first, last) if m.year not in years]


async def region_period(pool: asyncpg.Pool, first: Month, last: Month, open_month: Month) -> KeptRegion:
    years, months = _whole_years(first, last)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await _lock_in_switch_order(conn)
        rows = await conn.fetch(
            "SELECT municipality, col, care_form, detail, sum(n)::int, sum(shown)::int FROM ("
            " SELECT municipality, col, care_form, detail, n, shown FROM flow_cells_yearly WHERE year = ANY($1::int[])"
            " UNION ALL SELECT municipality, col, care_form, CASE WHEN col = ANY($5::text[]) THEN detail ELSE '' END,"
            " n, shown FROM flow_cells WHERE month = ANY($2::date[]) AND col <> ALL($3::text[])) AS c"
            " GROUP BY 1, 2, 3, 4"
            " UNION ALL SELECT municipality, col, care_form, detail, n, shown FROM flow_cells"
            " WHERE month = $4 AND col = ANY($3::text[])",
            years,
            months,
            list(STATE_COLUMNS),
            last.first_day(),
            list(BREAKDOWNS),  # the only details a period shows; the yearly sums keep no other
        )
        named = [r[0] for r in await conn.fetch("SELECT municipality FROM responsible_named ORDER BY 1")]
        matrix = await _matrix(conn, first, last, open_month)
    return KeptRegion(rows, named, matrix)


async def region_matrix(
    pool: asyncpg.Pool, first: Month, last: Month, open_month: Month
) -> dict[tuple[str, str], Cell]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await _lock_in_switch_order(conn)
        return await _matrix(conn, first, last, open_month)


async def _lock_in_switch_order(conn: asyncpg.Connection) -> None:
    """The tables a period report reads, locked (ACCESS SHARE, as reading them would) in the order a rebuild's
    switch locks them (ReportingProjection.tables): its queries name a yearly table before its monthly one, and
    PostgreSQL would otherwise lock them in that order, against the switch's, and one of the two would deadlock."""
    await conn.execute(
        "LOCK TABLE flow_cells, flow_cells_yearly, matrix_cells, matrix_yearly, responsible_named IN ACCESS SHARE MODE"
    )


async def _matrix(
    conn: asyncpg.Connection, first: Month, last: Month, open_month: Month
) -> dict[tuple[str, str], Cell]:
    """The protected matrix of a period (disclosure.protect_matrix): each pair's rounded monthly cells summed,
    client-days of the months before `open_month` only; a pair whose figures all round to 0 is left out."""
    years, months = _whole_years(first, last, before=open_month.year)
    rows = await conn.fetch(
        "SELECT responsible, facility_municipality, sum(a)::int, sum(b)::int, sum(d)::int FROM ("
        " SELECT responsible, facility_municipality, shown_first AS a, shown_onward AS b, shown_days AS d"
        " FROM matrix_yearly WHERE year = ANY($1::int[])"
        " UNION ALL SELECT responsible, facility_municipality, shown_first, shown_onward,"
        " CASE WHEN month < $3 THEN shown_days ELSE 0 END FROM matrix_cells WHERE month = ANY($2::date[])"
        ") AS m GROUP BY 1, 2 ORDER BY 1, 2",
        years,
        months,
        open_month.first_day(),
    )
    return {(r[0], r[1]): Cell(r[2] + r[3], r[4], r[2]) for r in rows if r[2] + r[3] or r[4]}
