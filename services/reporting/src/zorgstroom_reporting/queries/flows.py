"""The facts of the flow read from reporting's own tables; the numbers are worked out by the domain."""

import json

import asyncpg

from zorgstroom_reporting.domain.facts import (
    Assessment,
    Consent,
    Facts,
    Outflow,
    PlacementFact,
    Registration,
    Transfer,
    Withdrawal,
)

# The clients one municipality's report can concern: any client with a fact recorded for it or a transfer to
# or from it (a relapse registered elsewhere still counts for the municipality of the outflow).
_CLIENTS = (
    "WITH clients AS (SELECT client_ref FROM registrations WHERE responsible_municipality = $1"
    " UNION SELECT client_ref FROM placements WHERE responsible_municipality = $1"
    " UNION SELECT client_ref FROM outflows WHERE responsible_municipality = $1"
    " UNION SELECT client_ref FROM withdrawals WHERE responsible_municipality = $1"
    " UNION SELECT client_ref FROM transfers WHERE to_municipality = $1 OR from_municipality = $1) "
)
_OF_CLIENTS = "($1::text IS NULL OR client_ref IN (SELECT client_ref FROM clients))"


_REGISTRATIONS = (
    # Rows from before the column count as consenting until a rebuild reads it (migration 0008).
    "intake_id, client_ref, responsible_municipality, registered_on, care_form, coalesce(consent_to_share, true)"
)
_PLACEMENTS = (
    "placement_id, intake_id, client_ref, responsible_municipality, facility_municipality, start_date,"
    " waited_days, end_date, end_reason, care_form, doorstroom_to, doorstroom_from"
)
# Of two placements of one registration the earliest start counts as its placing (the domain keeps the last read).
_PLACEMENT_ORDER = " ORDER BY client_ref, start_date DESC NULLS FIRST, placement_id"
_OUTFLOWS = "placement_id, client_ref, responsible_municipality, outflow_date"
_ASSESSMENTS = "placement_id, assessed_on, ready, topic_offset"
_TRANSFERS = (
    "client_ref, to_municipality, effective_on, from_municipality, intake_ids, accepted_on, transfer_id,"
    " coalesce(to_in_region, true)"  # rows from before the column: a rebuild fills it in
)
# In a defined order, so a live report and one from a rebuild see transfers of one day alike.
_TRANSFER_ORDER = " ORDER BY effective_on, coalesce(accepted_on, effective_on), coalesce(transfer_id, ''), event_id"
_WITHDRAWALS = "intake_id, client_ref, responsible_municipality, withdrawn_on, reason, care_form"
_CONSENTS = "client_ref, recorded_on, consent_to_share, occurred_at, topic_offset"


def _facts(
    registrations: list[asyncpg.Record],
    placements: list[asyncpg.Record],
    outflows: list[asyncpg.Record],
    assessments: list[asyncpg.Record],
    transfers: list[asyncpg.Record],
    withdrawals: list[asyncpg.Record],
    consents: list[asyncpg.Record],
) -> Facts:
    return Facts(
        registrations=[Registration(*r) for r in registrations],
        placements=[PlacementFact(*r) for r in placements],
        outflows=[Outflow(*r) for r in outflows],
        assessments=[Assessment(*r) for r in assessments],
        transfers=[
            Transfer(r[0], r[1], r[2], r[3], None if r[4] is None else tuple(json.loads(r[4])), r[5], r[6], r[7])
            for r in transfers
        ],
        withdrawals=[Withdrawal(*r) for r in withdrawals],
        consents=[Consent(*r) for r in consents],
    )


async def load_clients(conn: asyncpg.Connection, clients: list[str]) -> Facts:
    """Every fact of these clients (reporting's aggregates are kept per client: projections/kept.py), in a
    fixed order: of two placements of one registration the earliest start counts as its placing."""

    async def read(columns: str, table: str, order: str = "") -> list[asyncpg.Record]:
        found: list[asyncpg.Record] = await conn.fetch(
            f"SELECT {columns} FROM {table} WHERE client_ref = ANY($1::text[]){order}", clients
        )
        return found

    return _facts(
        await read(_REGISTRATIONS, "registrations", " ORDER BY client_ref, registered_on, intake_id"),
        await read(_PLACEMENTS, "placements", _PLACEMENT_ORDER),
        await read(_OUTFLOWS, "outflows", " ORDER BY client_ref, placement_id"),
        await conn.fetch(
            f"SELECT {_ASSESSMENTS} FROM assessments WHERE placement_id IN"
            " (SELECT placement_id FROM placements WHERE client_ref = ANY($1::text[]))"
            " ORDER BY placement_id, assessed_on, topic_offset NULLS FIRST, event_id",
            clients,
        ),
        await read(_TRANSFERS, "transfers", _TRANSFER_ORDER),
        await read(_WITHDRAWALS, "withdrawals", " ORDER BY client_ref, intake_id"),
        await read(_CONSENTS, "consents", " ORDER BY client_ref, recorded_on, topic_offset NULLS FIRST, event_id"),
    )


async def load_facts(pool: asyncpg.Pool, municipality: str | None = None) -> Facts:
    """The facts of the region, or only those one municipality's report can concern (the budget and settlement
    work from them; the flow reports read the kept aggregates). Placements in load_clients' order: of two
    placements of one registration the earliest start counts as its placing."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):

        async def read(columns: str, table: str, where: str = _OF_CLIENTS, order: str = "") -> list[asyncpg.Record]:
            found: list[asyncpg.Record] = await conn.fetch(
                f"{_CLIENTS}SELECT {columns} FROM {table} WHERE {where}{order}", municipality
            )
            return found

        return _facts(
            await read(_REGISTRATIONS, "registrations"),
            await read(_PLACEMENTS, "placements", order=_PLACEMENT_ORDER),
            await read(_OUTFLOWS, "outflows"),
            await read(
                _ASSESSMENTS,
                "assessments",
                f"placement_id IN (SELECT placement_id FROM placements WHERE {_OF_CLIENTS})",
            ),
            await read(_TRANSFERS, "transfers", order=_TRANSFER_ORDER),
            await read(_WITHDRAWALS, "withdrawals"),
            await read(_CONSENTS, "consents"),
        )
