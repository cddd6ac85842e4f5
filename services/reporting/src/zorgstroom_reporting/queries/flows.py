"""SQL of the flow reports."""

import asyncpg

from zorgstroom_reporting.queries.months import FlowReport, Month


async def flow_report(pool: asyncpg.Pool, municipality: str, start: Month, end: Month) -> FlowReport:
    rows = await pool.fetch(
        "SELECT date_trunc('month', registered_on)::date AS month, count(*) AS registrations FROM registrations"
        " WHERE responsible_municipality = $1 AND registered_on >= $2 AND registered_on < $3 GROUP BY 1",
        municipality,
        start.first_day(),
        end.next().first_day(),
    )
    report = FlowReport(municipality, start, end)
    for row in rows:
        report.counts[Month.of(row["month"])] = {"registrations": row["registrations"]}
    return report


async def region_totals(pool: asyncpg.Pool, municipalities: list[str], start: Month, end: Month) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT responsible_municipality AS municipality, count(*) AS registrations FROM registrations"
        " WHERE responsible_municipality = ANY($1::text[]) AND registered_on >= $2 AND registered_on < $3"
        " GROUP BY 1",
        municipalities,
        start.first_day(),
        end.next().first_day(),
    )
    return {row["municipality"]: row["registrations"] for row in rows}
