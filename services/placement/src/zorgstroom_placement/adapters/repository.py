"""SQL on placement's own schema for the waiting list and the facilities with their wijk caps (placements
and transfers have their own modules beside this one).

Each class is a repository a unit of work carries (`uow.waiting_list`, `uow.facilities`, ...) on the unit of
work's connection, so everything it writes commits or rolls back with the events and the audit line.
"""

from collections.abc import Sequence

import asyncpg

from zorgstroom_contracts.codes import Need, Urgency
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_placement.domain.facilities import Facility, WijkCapExceeded
from zorgstroom_placement.domain.waiting_list import Registration, RegistrationStatus, WaitingClient

_WAITING_COLUMNS = (
    "w.intake_id, w.client_ref, w.care_form, w.responsible_municipality, w.urgency, w.waiting_since, w.needs,"
    " w.preferred_municipalities"
)


def _waiting_client(r: asyncpg.Record, in_place_of: str | None = None) -> WaitingClient:
    return WaitingClient(
        r["client_ref"],
        r["care_form"],
        r["responsible_municipality"],
        Urgency(r["urgency"]),
        r["waiting_since"],
        needs=frozenset(Need(n) for n in r["needs"]),
        preferred_municipalities=tuple(r["preferred_municipalities"]),
        intake_id=r["intake_id"],
        in_place_of=in_place_of,
    )


def _registration(r: asyncpg.Record) -> Registration:
    return Registration(
        intake_id=r["intake_id"],
        client_ref=r["client_ref"],
        care_form=r["care_form"],
        responsible_municipality=r["responsible_municipality"],
        urgency=Urgency(r["urgency"]),
        needs=tuple(Need(n) for n in r["needs"]),
        adults=r["adults"],
        children=r["children"],
        preferred_municipalities=tuple(r["preferred_municipalities"]),
        waiting_since=r["waiting_since"],
        status=RegistrationStatus(r["status"]),
        placement_id=r["placement_id"],
    )


class PostgresWaitingList:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, event: ClientRegistered) -> bool:
        await self.conn.execute(
            "INSERT INTO clients (client_ref, responsible_municipality, preferred_municipalities) VALUES ($1, $2, $3)"
            " ON CONFLICT (client_ref) DO UPDATE SET responsible_municipality = excluded.responsible_municipality,"
            " preferred_municipalities = excluded.preferred_municipalities, updated_at = now()",
            event.client_ref,
            event.responsible_municipality,
            event.preferred_municipalities,
        )
        added = await self.conn.fetchval(
            "INSERT INTO waiting_list (intake_id, client_ref, care_form, responsible_municipality, urgency, needs,"
            " preferred_municipalities, adults, children, waiting_since) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
            " ON CONFLICT (intake_id) DO NOTHING RETURNING true",
            event.intake_id,
            event.client_ref,
            event.care_form,
            event.responsible_municipality,
            event.urgency.value,
            [n.value for n in event.needs],
            event.preferred_municipalities,
            event.household.adults,
            event.household.children,
            event.registered_on,
        )
        return bool(added)

    async def get(self, intake_id: str) -> Registration | None:
        row = await self.conn.fetchrow("SELECT * FROM waiting_list WHERE intake_id = $1", intake_id)
        return _registration(row) if row else None

    async def get_for_update(self, intake_id: str) -> Registration | None:
        row = await self.conn.fetchrow("SELECT * FROM waiting_list WHERE intake_id = $1 FOR UPDATE", intake_id)
        return _registration(row) if row else None

    async def save(self, registration: Registration) -> None:
        await self.conn.execute(
            "UPDATE waiting_list SET urgency = $2, needs = $3, adults = $4, children = $5,"
            " preferred_municipalities = $6, status = $7, responsible_municipality = $8 WHERE intake_id = $1",
            registration.intake_id,
            registration.urgency.value,
            [n.value for n in registration.needs],
            registration.adults,
            registration.children,
            list(registration.preferred_municipalities),
            registration.status.value,
            registration.responsible_municipality,
        )

    async def waiting(self, care_form: str | None) -> list[WaitingClient]:
        rows = await self.conn.fetch(
            f"SELECT {_WAITING_COLUMNS} FROM waiting_list w WHERE w.status = 'waiting'"
            " AND ($1::text IS NULL OR w.care_form = $1)",
            care_form,
        )
        return [_waiting_client(r) for r in rows]

    async def to_place(self, care_form: str) -> list[WaitingClient]:
        rows = await self.conn.fetch(
            f"SELECT {_WAITING_COLUMNS}, p.care_form AS in_place_of FROM waiting_list w"
            " LEFT JOIN placements p ON p.client_ref = w.client_ref AND p.end_date IS NULL"
            " WHERE w.status = 'waiting' AND w.care_form = $1",
            care_form,
        )
        return [_waiting_client(r, r["in_place_of"]) for r in rows]

    async def episode_of(self, client_ref: str) -> list[Registration]:
        rows = await self.conn.fetch(
            "SELECT w.* FROM waiting_list w LEFT JOIN placements p ON p.placement_id = w.placement_id"
            " WHERE w.client_ref = $1 AND (w.status = 'waiting' OR (w.status = 'placed' AND p.end_date IS NULL))"
            " ORDER BY w.waiting_since, w.intake_id FOR UPDATE OF w",
            client_ref,
        )
        return [_registration(r) for r in rows]

    async def mark_placed(self, intake_id: str, placement_id: str) -> bool:
        # Only a registration still waiting: one withdrawn (or placed) since the matcher read it stays so.
        placed = await self.conn.fetchval(
            "UPDATE waiting_list SET status = 'placed', placement_id = $2 WHERE intake_id = $1 AND status = 'waiting'"
            " RETURNING true",
            intake_id,
            placement_id,
        )
        return bool(placed)

    async def care_forms_of(self, client_ref: str) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT w.care_form FROM waiting_list w LEFT JOIN placements p ON p.placement_id = w.placement_id"
            " WHERE w.client_ref = $1 AND (w.status = 'waiting' OR (w.status = 'placed' AND p.end_date IS NULL))",
            client_ref,
        )
        return {r["care_form"] for r in rows}

    async def set_preferences(self, client_ref: str, preferred: Sequence[str]) -> None:
        await self.conn.execute(
            "UPDATE clients SET preferred_municipalities = $2, updated_at = now() WHERE client_ref = $1",
            client_ref,
            list(preferred),
        )
        await self.conn.execute(
            "UPDATE waiting_list SET preferred_municipalities = $2 WHERE client_ref = $1 AND status = 'waiting'",
            client_ref,
            list(preferred),
        )

    async def hand_over(self, intake_ids: Sequence[str], to: str, *, leaves_region: bool) -> None:
        await self.conn.execute(
            "UPDATE waiting_list SET responsible_municipality = $2,"
            " status = CASE WHEN $3 AND status = 'waiting' THEN 'transferred' ELSE status END"
            " WHERE intake_id = ANY($1::text[])",
            list(intake_ids),
            to,
            leaves_region,
        )


_FACILITY_COLUMNS = (
    "facility_id, provider_agb, name, municipality, wijk, care_form, capacity, occupied, supported_needs, version"
)


def _facility(r: asyncpg.Record) -> Facility:
    return Facility(**{**dict(r), "supported_needs": [Need(n) for n in r["supported_needs"]]})


class PostgresFacilities:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._turns: set[str] = set()  # held until this unit of work's transaction ends

    async def take_turn(self, care_form: str) -> None:
        if care_form in self._turns:  # the lock is the transaction's already: no second round trip
            return
        # The key names the schema: services that share a database (two regions, a test run) never wait on each other.
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':placement-match:' || $1))", care_form
        )
        self._turns.add(care_form)

    async def get(self, facility_id: str) -> Facility | None:
        row = await self.conn.fetchrow(
            f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE facility_id = $1", facility_id
        )
        return _facility(row) if row else None

    async def get_for_update(self, facility_id: str) -> Facility | None:
        row = await self.conn.fetchrow(
            f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE facility_id = $1 FOR UPDATE", facility_id
        )
        return _facility(row) if row else None

    async def find(self, care_form: str | None, municipality: str | None) -> list[Facility]:
        rows = await self.conn.fetch(
            f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE ($1::text IS NULL OR care_form = $1)"
            ' AND ($2::text IS NULL OR municipality = $2) ORDER BY facility_id COLLATE "C"',  # as pages compare ids
            care_form,
            municipality,
        )
        return [_facility(r) for r in rows]

    async def with_free_places(self, care_form: str) -> list[Facility]:
        rows = await self.conn.fetch(
            f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE care_form = $1 AND occupied < capacity", care_form
        )
        return [_facility(r) for r in rows]

    async def save(self, f: Facility) -> int:
        """Raises the version in the same statement, so two changes never publish one version (migrations/0004)."""
        version: int = await self.conn.fetchval(
            "INSERT INTO facilities (facility_id, provider_agb, name, municipality, wijk, care_form, capacity,"
            " supported_needs, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) ON CONFLICT (facility_id) DO UPDATE"
            " SET provider_agb = excluded.provider_agb, name = excluded.name, municipality = excluded.municipality,"
            " wijk = excluded.wijk, care_form = excluded.care_form, capacity = excluded.capacity,"
            " supported_needs = excluded.supported_needs, version = facilities.version + 1, updated_at = now()"
            " RETURNING version",
            f.facility_id,
            f.provider_agb,
            f.name,
            f.municipality,
            f.wijk,
            f.care_form,
            f.capacity,
            [n.value for n in f.supported_needs],
        )
        return version

    async def occupy(self, facility_id: str, delta: int) -> None:
        await self.conn.execute(
            "UPDATE facilities SET occupied = occupied + $2 WHERE facility_id = $1", facility_id, delta
        )

    async def add_wijk_places(self, wijk: str, delta: int, cap: int) -> None:
        """The database holds the cap (a CHECK on wijk_places); a refusal rolls back only its savepoint."""
        try:
            async with self.conn.transaction():
                await self.conn.execute(
                    "INSERT INTO wijk_places (wijk, places, cap) VALUES ($1, $2, $3)"
                    " ON CONFLICT (wijk) DO UPDATE SET places = wijk_places.places + $2, cap = $3",
                    wijk,
                    delta,
                    cap,
                )
        except asyncpg.CheckViolationError as error:
            raise WijkCapExceeded(wijk, cap) from error
