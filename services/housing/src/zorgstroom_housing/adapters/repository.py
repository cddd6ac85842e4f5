"""SQL for housing units, contingents and ready clients."""

import asyncpg

from zorgstroom_housing.schemas import HousingUnitCreate


async def add_unit(conn: asyncpg.Connection, unit: HousingUnitCreate) -> bool:
    added = await conn.fetchval(
        "INSERT INTO housing_units (unit_id, corporation_id, municipality, wijk, rooms, rent_eur, available_from,"
        " accessible) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (unit_id) DO NOTHING RETURNING true",
        unit.unit_id,
        unit.corporation_id,
        unit.municipality,
        unit.wijk,
        unit.rooms,
        unit.rent_eur,
        unit.available_from,
        unit.accessible,
    )
    return bool(added)


async def set_contingent(
    conn: asyncpg.Connection, corporation_id: str, municipality: str, year: int, units: int
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO contingents (corporation_id, municipality, year, units) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (corporation_id, municipality, year) DO UPDATE SET units = excluded.units"
        " RETURNING corporation_id, municipality, year, units, used",
        corporation_id,
        municipality,
        year,
        units,
    )


async def mark_ready(
    conn: asyncpg.Connection, client_ref: str, placement_id: str, municipality: str, since: object
) -> None:
    await conn.execute(
        "INSERT INTO ready_clients (client_ref, placement_id, responsible_municipality, ready_since)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (client_ref) DO NOTHING",
        client_ref,
        placement_id,
        municipality,
        since,
    )


async def unmark_ready(conn: asyncpg.Connection, client_ref: str) -> None:
    await conn.execute("DELETE FROM ready_clients WHERE client_ref = $1", client_ref)
