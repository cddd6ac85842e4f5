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


async def load_facts(pool: asyncpg.Pool) -> Facts:
    """Every fact of the region. A region holds thousands of clients a year, so one read is cheap."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        registrations = await conn.fetch(
            "SELECT intake_id, client_ref, responsible_municipality, registered_on FROM registrations"
        )
        placements = await conn.fetch(
            "SELECT placement_id, intake_id, client_ref, responsible_municipality, facility_municipality,"
            " start_date, waited_days, end_date, end_reason, care_form FROM placements"
        )
        outflows = await conn.fetch(
            "SELECT placement_id, client_ref, responsible_municipality, outflow_date FROM outflows"
        )
        assessments = await conn.fetch("SELECT placement_id, assessed_on, ready FROM assessments")
        transfers = await conn.fetch("SELECT client_ref, to_municipality, effective_on FROM transfers")
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
