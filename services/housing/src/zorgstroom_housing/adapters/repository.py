"""SQL on housing's own schema: units, quotas, the wijk cap on outflow homes, its view of clients, offers."""

from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg

from zorgstroom_contracts.events import ClientRegistered, OutflowReadinessAssessed
from zorgstroom_housing.domain.offers import AvailableUnit, ReadyClient
from zorgstroom_housing.schemas import HousingUnitCreate

# --- clients, from events ------------------------------------------------------------------------


async def client_registered(conn: asyncpg.Connection, event: ClientRegistered) -> None:
    await conn.execute(
        "INSERT INTO clients (client_ref, responsible_municipality, preferred_municipalities, adults, children)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_ref) DO UPDATE SET"
        " responsible_municipality = excluded.responsible_municipality,"
        " preferred_municipalities = excluded.preferred_municipalities,"
        " adults = excluded.adults, children = excluded.children",
        event.client_ref,
        event.responsible_municipality,
        event.preferred_municipalities,
        event.household.adults,
        event.household.children,
    )


async def placement_made(conn: asyncpg.Connection, client_ref: str, placement_id: str, responsible: str) -> None:
    """A new placement starts with nobody ready yet (unless its assessment overtook it on another topic)."""
    await conn.execute(
        "INSERT INTO clients (client_ref, responsible_municipality, placement_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (client_ref) DO UPDATE SET placement_id = excluded.placement_id, housed_on = NULL,"
        " ready_since = CASE WHEN clients.placement_id = excluded.placement_id THEN clients.ready_since END"
        " WHERE NOT EXISTS (SELECT 1 FROM ended_placements e WHERE e.placement_id = excluded.placement_id)",
        client_ref,
        responsible,
        placement_id,
    )


async def placement_ended(conn: asyncpg.Connection, client_ref: str, placement_id: str) -> None:
    await conn.execute("INSERT INTO ended_placements VALUES ($1) ON CONFLICT DO NOTHING", placement_id)
    await conn.execute(
        "UPDATE clients SET placement_id = NULL, ready_since = NULL WHERE client_ref = $1 AND placement_id = $2",
        client_ref,
        placement_id,
    )


async def assessed(conn: asyncpg.Connection, e: OutflowReadinessAssessed) -> bool:
    """Readiness of the client's current placement; True when the client became ready now. Ready-since is
    kept across later ready assessments, because the longest-ready go first."""
    if await conn.fetchval("SELECT true FROM ended_placements WHERE placement_id = $1", e.placement_id):
        return False
    before = await conn.fetchval(
        "SELECT ready_since FROM clients WHERE client_ref = $1 AND placement_id = $2", e.client_ref, e.placement_id
    )
    preferred = e.preferred_municipalities
    await conn.execute(
        "INSERT INTO clients (client_ref, responsible_municipality, placement_id, ready_since, support_at_home,"
        " preferred_municipalities) VALUES ($1, $2, $3, $4, $5, coalesce($6, '{}'::text[]))"
        " ON CONFLICT (client_ref) DO UPDATE SET placement_id = excluded.placement_id,"
        " ready_since = CASE WHEN $7 THEN coalesce(clients.ready_since, excluded.ready_since) END,"
        " support_at_home = excluded.support_at_home,"
        " preferred_municipalities = coalesce($6, clients.preferred_municipalities)",
        e.client_ref,
        e.responsible_municipality,
        e.placement_id,
        e.assessed_on if e.ready else None,
        bool(e.support_at_home),
        preferred,
        e.ready,
    )
    return e.ready and before is None


async def transferred(conn: asyncpg.Connection, client_ref: str, to: str) -> None:
    await conn.execute("UPDATE clients SET responsible_municipality = $2 WHERE client_ref = $1", client_ref, to)


async def ready_clients(conn: asyncpg.Connection) -> list[ReadyClient]:
    rows = await conn.fetch(
        "SELECT c.client_ref, c.responsible_municipality, c.preferred_municipalities, c.adults, c.children,"
        " c.ready_since, EXISTS (SELECT 1 FROM offers o WHERE o.client_ref = c.client_ref AND o.status = 'open')"
        " AS has_open_offer, ARRAY(SELECT o.unit_id FROM offers o WHERE o.client_ref = c.client_ref"
        " AND o.status IN ('declined', 'lapsed')) AS declined_units FROM clients c"
        " WHERE c.ready_since IS NOT NULL AND c.placement_id IS NOT NULL AND c.housed_on IS NULL"
        " AND c.responsible_municipality IS NOT NULL"
    )
    return [
        ReadyClient(
            client_ref=r["client_ref"],
            responsible_municipality=r["responsible_municipality"],
            preferred_municipalities=tuple(r["preferred_municipalities"]),
            adults=r["adults"],
            children=r["children"],
            ready_since=r["ready_since"],
            declined_units=frozenset(r["declined_units"]),
            has_open_offer=r["has_open_offer"],
        )
        for r in rows
    ]


async def client_support(conn: asyncpg.Connection, client_ref: str) -> bool:
    return bool(await conn.fetchval("SELECT support_at_home FROM clients WHERE client_ref = $1", client_ref))


async def mark_housed(conn: asyncpg.Connection, client_ref: str, on: date) -> None:
    await conn.execute("UPDATE clients SET housed_on = $2 WHERE client_ref = $1", client_ref, on)


# --- units, quotas and caps ----------------------------------------------------------------------


async def unit(conn: asyncpg.Connection, unit_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT unit_id, corporation_id, municipality, wijk, rooms, rent_eur::float8 AS rent_eur, available_from,"
        " accessible, status, waiting_reason, event_id FROM housing_units WHERE unit_id = $1",
        unit_id,
    )


async def add_unit(conn: asyncpg.Connection, unit: HousingUnitCreate, event_id: object) -> bool:
    added = await conn.fetchval(
        "INSERT INTO housing_units (unit_id, corporation_id, municipality, wijk, rooms, rent_eur, available_from,"
        " accessible, event_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (unit_id) DO NOTHING RETURNING true",
        unit.unit_id,
        unit.corporation_id,
        unit.municipality,
        unit.wijk,
        unit.rooms,
        unit.rent_eur,
        unit.available_from,
        unit.accessible,
        event_id,
    )
    return bool(added)


async def available_units(conn: asyncpg.Connection) -> list[AvailableUnit]:
    rows = await conn.fetch(
        "SELECT unit_id, corporation_id, municipality, wijk, rooms, available_from FROM housing_units"
        " WHERE status = 'available'"
    )
    return [AvailableUnit(**dict(r)) for r in rows]


async def quota_left(conn: asyncpg.Connection) -> dict[tuple[str, str, int], int]:
    rows = await conn.fetch(
        "SELECT corporation_id, municipality, year, units - used - reserved AS left FROM contingents"
    )
    return {(r["corporation_id"], r["municipality"], r["year"]): r["left"] for r in rows}


async def wijk_homes(conn: asyncpg.Connection, wijken: list[str]) -> dict[str, int]:
    rows = await conn.fetch("SELECT wijk, homes FROM wijk_homes WHERE wijk = ANY($1::text[])", wijken)
    return {r["wijk"]: r["homes"] for r in rows}


async def set_contingent(
    conn: asyncpg.Connection, corporation_id: str, municipality: str, year: int, units: int
) -> asyncpg.Record:
    """Raises asyncpg.CheckViolationError when the quota would drop below what is used or promised."""
    return await conn.fetchrow(
        "INSERT INTO contingents (corporation_id, municipality, year, units) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (corporation_id, municipality, year) DO UPDATE SET units = excluded.units"
        " RETURNING corporation_id, municipality, year, units, used, reserved",
        corporation_id,
        municipality,
        year,
        units,
    )


async def contingent(conn: asyncpg.Connection, corporation_id: str, municipality: str, year: int) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT corporation_id, municipality, year, units, used, reserved FROM contingents"
        " WHERE corporation_id = $1 AND municipality = $2 AND year = $3",
        corporation_id,
        municipality,
        year,
    )


async def lock_matching(conn: asyncpg.Connection) -> None:
    """Matchers take turns (across processes) until their transaction ends: one offer per unit at a time."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('housing-match'))")


async def set_waiting_reasons(conn: asyncpg.Connection, reasons: dict[str, str]) -> None:
    await conn.executemany(
        "UPDATE housing_units SET waiting_reason = $2 WHERE unit_id = $1 AND status = 'available'",
        list(reasons.items()),
    )


# --- offers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferRow:
    offer_id: str
    unit_id: str
    corporation_id: str
    client_ref: str
    municipality: str
    wijk: str
    responsible_municipality: str
    quota_year: int
    household_size: int
    rooms_needed: int
    support_at_home: bool
    offered_on: date
    answer_by: date
    status: str = "open"
    answered_on: date | None = None
    decline_reason: str | None = None


async def add_offer(conn: asyncpg.Connection, offer: OfferRow, wijk_cap: int) -> None:
    """The offer, the unit taken off the market, a quota unit held and a home counted in the wijk.
    The CHECKs on contingents and wijk_homes refuse what would pass a quota or a cap."""
    await conn.execute(
        "INSERT INTO offers (offer_id, unit_id, corporation_id, client_ref, municipality, wijk,"
        " responsible_municipality, quota_year, household_size, rooms_needed, support_at_home, offered_on,"
        " answer_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        offer.offer_id,
        offer.unit_id,
        offer.corporation_id,
        offer.client_ref,
        offer.municipality,
        offer.wijk,
        offer.responsible_municipality,
        offer.quota_year,
        offer.household_size,
        offer.rooms_needed,
        offer.support_at_home,
        offer.offered_on,
        offer.answer_by,
    )
    await conn.execute(
        "UPDATE housing_units SET status = 'offered', waiting_reason = NULL WHERE unit_id = $1", offer.unit_id
    )
    held = await conn.execute(
        "UPDATE contingents SET reserved = reserved + 1 WHERE corporation_id = $1 AND municipality = $2 AND year = $3",
        offer.corporation_id,
        offer.municipality,
        offer.quota_year,
    )
    if held != "UPDATE 1":
        raise asyncpg.CheckViolationError("no quota for this corporation, municipality and year")
    await conn.execute(
        "INSERT INTO wijk_homes (wijk, homes, cap) VALUES ($1, 1, $2)"
        " ON CONFLICT (wijk) DO UPDATE SET homes = wijk_homes.homes + 1, cap = $2",
        offer.wijk,
        wijk_cap,
    )


_OFFER_COLUMNS = (
    "offer_id, unit_id, corporation_id, client_ref, municipality, wijk, responsible_municipality, quota_year,"
    " household_size, rooms_needed, support_at_home, offered_on, answer_by, status, answered_on, decline_reason"
)


async def offer_for_update(conn: asyncpg.Connection, offer_id: str) -> OfferRow | None:
    row = await conn.fetchrow(f"SELECT {_OFFER_COLUMNS} FROM offers WHERE offer_id = $1 FOR UPDATE", offer_id)
    return OfferRow(**dict(row)) if row else None


async def open_offer_of(conn: asyncpg.Connection, client_ref: str) -> OfferRow | None:
    row = await conn.fetchrow(
        f"SELECT {_OFFER_COLUMNS} FROM offers WHERE client_ref = $1 AND status = 'open' FOR UPDATE", client_ref
    )
    return OfferRow(**dict(row)) if row else None


async def accept_offer(conn: asyncpg.Connection, offer: OfferRow, on: date) -> None:
    await conn.execute(
        "UPDATE offers SET status = 'accepted', answered_on = $2 WHERE offer_id = $1", offer.offer_id, on
    )
    await conn.execute("UPDATE housing_units SET status = 'let' WHERE unit_id = $1", offer.unit_id)
    await conn.execute(
        "UPDATE contingents SET reserved = reserved - 1, used = used + 1"
        " WHERE corporation_id = $1 AND municipality = $2 AND year = $3",
        offer.corporation_id,
        offer.municipality,
        offer.quota_year,
    )
    await mark_housed(conn, offer.client_ref, on)


async def release_offer(conn: asyncpg.Connection, offer: OfferRow, status: str, reason: str, on: date) -> None:
    """A declined or lapsed offer gives the unit, the quota unit and the wijk's home back."""
    await conn.execute(
        "UPDATE offers SET status = $2, answered_on = $3, decline_reason = $4 WHERE offer_id = $1",
        offer.offer_id,
        status,
        on,
        reason,
    )
    await conn.execute("UPDATE housing_units SET status = 'available' WHERE unit_id = $1", offer.unit_id)
    await conn.execute(
        "UPDATE contingents SET reserved = reserved - 1 WHERE corporation_id = $1 AND municipality = $2 AND year = $3",
        offer.corporation_id,
        offer.municipality,
        offer.quota_year,
    )
    await conn.execute("UPDATE wijk_homes SET homes = homes - 1 WHERE wijk = $1", offer.wijk)


async def lapsing_offers(conn: asyncpg.Connection, after: timedelta, limit: int = 100) -> list[OfferRow]:
    rows = await conn.fetch(
        f"SELECT {_OFFER_COLUMNS} FROM offers WHERE status = 'open' AND created_at + $1::interval <= now()"
        " ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        after,
        limit,
    )
    return [OfferRow(**dict(r)) for r in rows]


# --- a corporation's own view --------------------------------------------------------------------


async def corporation_offers(conn: asyncpg.Connection, corporation_id: str) -> list[OfferRow]:
    rows = await conn.fetch(
        f"SELECT {_OFFER_COLUMNS} FROM offers WHERE corporation_id = $1 ORDER BY created_at, offer_id", corporation_id
    )
    return [OfferRow(**dict(r)) for r in rows]


async def corporation_contingents(conn: asyncpg.Connection, corporation_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT corporation_id, municipality, year, units, used, reserved FROM contingents"
        " WHERE corporation_id = $1 ORDER BY year, municipality",
        corporation_id,
    )
    return rows


async def corporation_units(conn: asyncpg.Connection, corporation_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT unit_id, corporation_id, municipality, wijk, rooms, rent_eur::float8 AS rent_eur, available_from,"
        " accessible, status, waiting_reason FROM housing_units WHERE corporation_id = $1 ORDER BY unit_id",
        corporation_id,
    )
    return rows
