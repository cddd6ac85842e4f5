"""SQL on housing's units, quotas and offers: the repositories a unit of work carries (`uow.units`, ...).
Each runs on the unit of work's connection, so what it writes commits or rolls back with the events and the
audit line. Quotas are held again by CHECK constraints; their refusals come out as domain errors."""

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, timedelta

import asyncpg

from zorgstroom_housing.domain.errors import ContingentBelowUse, HousingRefusal, QuotaExhausted
from zorgstroom_housing.domain.model import Contingent, HousingUnit, OfferRow, OfferStatus, QuotaKey, UnitStatus
from zorgstroom_housing.domain.offers import AvailableUnit, Refusal
from zorgstroom_housing.domain.wijk_cap import WijkOutflow


@contextlib.asynccontextmanager
async def _refused_as(conn: asyncpg.Connection, refusal: HousingRefusal) -> AsyncIterator[None]:
    """A CHECK the statement breaks becomes `refusal`; the savepoint keeps the unit of work usable after it."""
    try:
        async with conn.transaction():
            yield
    except asyncpg.CheckViolationError as error:
        raise refusal from error


_UNIT_COLUMNS = (
    "unit_id, corporation_id, municipality, wijk, rooms, rent_eur::float8 AS rent_eur, available_from, accessible,"
    " status, waiting_reason, event_id"
)


def _unit(r: asyncpg.Record) -> HousingUnit:
    return HousingUnit(**{**dict(r), "status": UnitStatus(r["status"])})


class PostgresUnits:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, unit_id: str) -> HousingUnit | None:
        r = await self.conn.fetchrow(f"SELECT {_UNIT_COLUMNS} FROM housing_units WHERE unit_id = $1", unit_id)
        return _unit(r) if r else None

    async def add(self, unit: HousingUnit) -> None:
        await self.conn.execute(
            "INSERT INTO housing_units (unit_id, corporation_id, municipality, wijk, rooms, rent_eur, available_from,"
            " accessible, status, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            *unit.content(),
            unit.status.value,
            unit.event_id,
        )

    async def available(self) -> list[AvailableUnit]:
        rows = await self.conn.fetch(
            "SELECT unit_id, corporation_id, municipality, wijk, rooms, available_from FROM housing_units"
            " WHERE status = 'available'"
        )
        return [AvailableUnit(**dict(r)) for r in rows]

    async def set_status(self, unit_id: str, status: UnitStatus) -> None:
        # A unit that leaves the market no longer waits for anything.
        await self.conn.execute(
            "UPDATE housing_units SET status = $2,"
            " waiting_reason = CASE WHEN $2 = 'available' THEN waiting_reason END WHERE unit_id = $1",
            unit_id,
            status.value,
        )

    async def set_waiting_reasons(self, reasons: Mapping[str, Refusal]) -> None:
        await self.conn.executemany(
            "UPDATE housing_units SET waiting_reason = $2 WHERE unit_id = $1 AND status = 'available'",
            [(unit_id, reason.value) for unit_id, reason in reasons.items()],
        )

    async def of_corporation(self, corporation_id: str) -> list[HousingUnit]:
        rows = await self.conn.fetch(
            f"SELECT {_UNIT_COLUMNS} FROM housing_units WHERE corporation_id = $1"
            ' ORDER BY unit_id COLLATE "C"',  # the order its pages compare ids in (code points)
            corporation_id,
        )
        return [_unit(r) for r in rows]


_CONTINGENT_COLUMNS = "corporation_id, municipality, year, units, used, reserved, version"


class PostgresContingents:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def agree(self, corporation_id: str, municipality: str, year: int, units: int) -> Contingent:
        async with _refused_as(self.conn, ContingentBelowUse(f"{corporation_id}/{municipality}/{year}")):
            r = await self.conn.fetchrow(
                # The version is raised in the same statement, so two agreements never publish one version.
                "INSERT INTO contingents (corporation_id, municipality, year, units, version)"
                " VALUES ($1, $2, $3, $4, 1) ON CONFLICT (corporation_id, municipality, year) DO UPDATE"
                f" SET units = excluded.units, version = contingents.version + 1 RETURNING {_CONTINGENT_COLUMNS}",
                corporation_id,
                municipality,
                year,
                units,
            )
        return Contingent(**dict(r))

    async def get(self, key: QuotaKey) -> Contingent | None:
        r = await self.conn.fetchrow(
            f"SELECT {_CONTINGENT_COLUMNS} FROM contingents WHERE corporation_id = $1 AND municipality = $2"
            " AND year = $3",
            *key,
        )
        return Contingent(**dict(r)) if r else None

    async def left(self) -> dict[QuotaKey, int]:
        rows = await self.conn.fetch(
            "SELECT corporation_id, municipality, year, units - used - reserved AS left FROM contingents"
        )
        return {(r["corporation_id"], r["municipality"], r["year"]): r["left"] for r in rows}

    async def hold(self, key: QuotaKey) -> None:
        async with _refused_as(self.conn, QuotaExhausted(f"{key}")):
            held = await self.conn.execute(
                "UPDATE contingents SET reserved = reserved + 1"
                " WHERE corporation_id = $1 AND municipality = $2 AND year = $3",
                *key,
            )
        if held != "UPDATE 1":
            raise QuotaExhausted(f"no quota {key}")

    async def use(self, key: QuotaKey) -> None:
        await self.conn.execute(
            "UPDATE contingents SET reserved = reserved - 1, used = used + 1"
            " WHERE corporation_id = $1 AND municipality = $2 AND year = $3",
            *key,
        )

    async def give_back(self, key: QuotaKey) -> None:
        await self.conn.execute(
            "UPDATE contingents SET used = used - 1 WHERE corporation_id = $1 AND municipality = $2 AND year = $3",
            *key,
        )

    async def release(self, key: QuotaKey) -> None:
        await self.conn.execute(
            "UPDATE contingents SET reserved = reserved - 1 WHERE corporation_id = $1 AND municipality = $2"
            " AND year = $3",
            *key,
        )

    async def of_corporation(self, corporation_id: str) -> list[Contingent]:
        rows = await self.conn.fetch(
            f"SELECT {_CONTINGENT_COLUMNS} FROM contingents WHERE corporation_id = $1"
            ' ORDER BY year, municipality COLLATE "C"',
            corporation_id,
        )
        return [Contingent(**dict(r)) for r in rows]


_OFFER_COLUMNS = (
    "offer_id, unit_id, corporation_id, client_ref, municipality, wijk, responsible_municipality, quota_year,"
    " household_size, rooms_needed, support_at_home, offered_on, answer_by, status, answered_on, decline_reason,"
    " placement_id"
)


def _offer(r: asyncpg.Record) -> OfferRow:
    return OfferRow(**{**dict(r), "status": OfferStatus(r["status"])})


class PostgresOffers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, offer: OfferRow) -> None:
        await self.conn.execute(
            "INSERT INTO offers (offer_id, unit_id, corporation_id, client_ref, municipality, wijk,"
            " responsible_municipality, quota_year, household_size, rooms_needed, support_at_home, offered_on,"
            " answer_by, placement_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
            offer.placement_id,
        )

    async def get(self, offer_id: str) -> OfferRow | None:
        r = await self.conn.fetchrow(f"SELECT {_OFFER_COLUMNS} FROM offers WHERE offer_id = $1 FOR UPDATE", offer_id)
        return _offer(r) if r else None

    async def open_offer_of(self, client_ref: str) -> OfferRow | None:
        r = await self.conn.fetchrow(
            f"SELECT {_OFFER_COLUMNS} FROM offers WHERE client_ref = $1 AND status = 'open' FOR UPDATE", client_ref
        )
        return _offer(r) if r else None

    async def answer(self, offer_id: str, status: OfferStatus, on: date, reason: str | None = None) -> None:
        await self.conn.execute(
            "UPDATE offers SET status = $2, answered_on = $3, decline_reason = $4 WHERE offer_id = $1",
            offer_id,
            status.value,
            on,
            reason,
        )

    async def due(self, after: timedelta, limit: int = 100) -> list[OfferRow]:
        rows = await self.conn.fetch(
            f"SELECT {_OFFER_COLUMNS} FROM offers WHERE status = 'open' AND created_at + $1::interval <= now()"
            " ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            after,
            limit,
        )
        return [_offer(r) for r in rows]

    async def of_corporation(self, corporation_id: str) -> list[OfferRow]:
        rows = await self.conn.fetch(
            f"SELECT {_OFFER_COLUMNS} FROM offers WHERE corporation_id = $1 ORDER BY created_at, offer_id",
            corporation_id,
        )
        return [_offer(r) for r in rows]


class PostgresWijkHomes:
    """Counted from the offers themselves (let homes by their answer date, open offers), under the matching lock."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def counted(self, wijken: Sequence[str], let_since: date) -> dict[str, WijkOutflow]:
        rows = await self.conn.fetch(
            "SELECT wijk, array_agg(answered_on ORDER BY answered_on) FILTER (WHERE status = 'accepted') AS let_on,"
            " count(*) FILTER (WHERE status = 'open') AS open_offers FROM offers WHERE wijk = ANY($1::text[])"
            " AND (status = 'open' OR (status = 'accepted' AND answered_on >= $2)) GROUP BY wijk",
            list(wijken),
            let_since,
        )
        return {r["wijk"]: WijkOutflow(tuple(r["let_on"] or ()), r["open_offers"]) for r in rows}
