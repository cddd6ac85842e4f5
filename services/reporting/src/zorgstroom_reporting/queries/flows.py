"""The flow reports: facts read from reporting's own tables, numbers worked out by the domain."""

import asyncpg

from zorgstroom_reporting.domain.flows import (
    Assessment,
    Facts,
    FlowPolicy,
    Outflow,
    PlacementFact,
    Registration,
    Transfer,
    monthly_flows,
    region_matrix,
    totals,
)
from zorgstroom_reporting.queries.months import FlowReport, Month

# The clients one municipality's report can concern: its own by record, and any transferred to or from it.
_CLIENTS_OF = (
    "($1::text IS NULL OR responsible_municipality = $1 OR client_ref IN"
    " (SELECT client_ref FROM transfers WHERE to_municipality = $1 OR from_municipality = $1))"
)


async def load_facts(pool: asyncpg.Pool, municipality: str | None = None) -> Facts:
    """The facts of the region, or only those one municipality's report can concern. A region holds
    thousands of clients a year, so one read is cheap; the numbers are worked out by the domain."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        registrations = await conn.fetch(
            "SELECT intake_id, client_ref, responsible_municipality, registered_on FROM registrations"
            f" WHERE {_CLIENTS_OF}",
            municipality,
        )
        placements = await conn.fetch(
            "SELECT placement_id, intake_id, client_ref, responsible_municipality, facility_municipality,"
            f" start_date, waited_days, end_date, end_reason, care_form FROM placements WHERE {_CLIENTS_OF}",
            municipality,
        )
        outflows = await conn.fetch(
            "SELECT placement_id, client_ref, responsible_municipality, outflow_date FROM outflows"
            f" WHERE {_CLIENTS_OF}",
            municipality,
        )
        assessments = await conn.fetch(
            "SELECT placement_id, assessed_on, ready FROM assessments"
            f" WHERE placement_id IN (SELECT placement_id FROM placements WHERE {_CLIENTS_OF})",
            municipality,
        )
        transfers = await conn.fetch(
            "SELECT client_ref, to_municipality, effective_on, from_municipality FROM transfers"
            " WHERE $1::text IS NULL OR to_municipality = $1 OR from_municipality = $1"
            " OR client_ref IN (SELECT client_ref FROM transfers WHERE to_municipality = $1 OR from_municipality = $1)",
            municipality,
        )
    return Facts(
        registrations=[Registration(*r) for r in registrations],
        placements=[PlacementFact(*r) for r in placements],
        outflows=[Outflow(*r) for r in outflows],
        assessments=[Assessment(*r) for r in assessments],
        transfers=[Transfer(*r) for r in transfers],
    )


def flow_report(facts: Facts, municipality: str, start: Month, end: Month, relapse_months: int = 12) -> FlowReport:
    months = monthly_flows(facts, municipality, start, end, FlowPolicy(relapse_months))
    return FlowReport(municipality, start, end, months, totals(months))


def matrix_cells(facts: Facts, start: Month, end: Month) -> list[dict[str, str | int]]:
    cells = region_matrix(facts, start, end)
    return [
        {"responsible": responsible, "facility_municipality": facility, "clients": n}
        for (responsible, facility), n in sorted(cells.items())
    ]
