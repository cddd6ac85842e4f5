"""SQL on placement's own schema: the waiting list, facilities and their wijk caps, placements."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import asyncpg

from zorgstroom_contracts.codes import CareForm, Need, Urgency
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_placement.domain.matching import FacilityPlaces
from zorgstroom_placement.domain.waiting_list import WaitingClient


async def add_to_waiting_list(conn: asyncpg.Connection, event: ClientRegistered) -> bool:
    await conn.execute(
        "INSERT INTO clients (client_ref, responsible_municipality, preferred_municipalities) VALUES ($1, $2, $3)"
        " ON CONFLICT (client_ref) DO UPDATE SET responsible_municipality = excluded.responsible_municipality,"
        " preferred_municipalities = excluded.preferred_municipalities, updated_at = now()",
        event.client_ref,
        event.responsible_municipality,
        event.preferred_municipalities,
    )
    added = await conn.fetchval(
        "INSERT INTO waiting_list (intake_id, client_ref, care_form, responsible_municipality, urgency, needs,"
        " preferred_municipalities, adults, children, waiting_since) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
        " ON CONFLICT (intake_id) DO NOTHING RETURNING true",
        event.intake_id,
        event.client_ref,
        event.care_form.value,
        event.responsible_municipality,
        event.urgency.value,
        [n.value for n in event.needs],
        event.preferred_municipalities,
        event.household.adults,
        event.household.children,
        event.registered_on,
    )
    return bool(added)


def _waiting_client(r: asyncpg.Record) -> WaitingClient:
    return WaitingClient(
        r["client_ref"],
        CareForm(r["care_form"]),
        r["responsible_municipality"],
        Urgency(r["urgency"]),
        r["waiting_since"],
        needs=frozenset(Need(n) for n in r["needs"]),
        preferred_municipalities=tuple(r["preferred_municipalities"]),
        intake_id=r["intake_id"],
    )


async def waiting_clients(
    conn: asyncpg.Connection | asyncpg.Pool, *, care_form: str | None, municipality: str | None
) -> list[WaitingClient]:
    rows = await conn.fetch(
        "SELECT intake_id, client_ref, care_form, responsible_municipality, urgency, waiting_since, needs,"
        " preferred_municipalities FROM waiting_list"
        " WHERE status = 'waiting' AND ($1::text IS NULL OR care_form = $1)"
        " AND ($2::text IS NULL OR responsible_municipality = $2)",
        care_form,
        municipality,
    )
    return [_waiting_client(r) for r in rows]


async def clients_to_place(conn: asyncpg.Connection, care_form: CareForm) -> list[WaitingClient]:
    """Waiting clients of one care form who are not in a place already (one entry per client)."""
    rows = await conn.fetch(
        "SELECT w.intake_id, w.client_ref, w.care_form, w.responsible_municipality, w.urgency, w.waiting_since,"
        " w.needs, w.preferred_municipalities FROM waiting_list w WHERE w.status = 'waiting' AND w.care_form = $1"
        " AND NOT EXISTS (SELECT 1 FROM placements p WHERE p.client_ref = w.client_ref AND p.end_date IS NULL)",
        care_form.value,
    )
    return [_waiting_client(r) for r in rows]


async def lock_matching(conn: asyncpg.Connection, care_form: CareForm) -> None:
    """Matchers of one care form take turns (across processes) until their transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('placement-match:' || $1))", care_form.value)


@dataclass(frozen=True)
class Facility:
    facility_id: str
    provider_agb: str
    name: str
    municipality: str
    wijk: str | None
    care_form: CareForm
    capacity: int
    occupied: int
    supported_needs: list[Need]

    @property
    def free_places(self) -> int:
        return max(0, self.capacity - self.occupied)

    def places(self) -> FacilityPlaces:
        return FacilityPlaces(
            self.facility_id, self.municipality, self.care_form, frozenset(self.supported_needs), self.free_places
        )


_FACILITY_COLUMNS = (
    "facility_id, provider_agb, name, municipality, wijk, care_form, capacity, occupied, supported_needs"
)


def _facility(r: Mapping[str, object]) -> Facility:
    return Facility(
        facility_id=str(r["facility_id"]),
        provider_agb=str(r["provider_agb"]),
        name=str(r["name"]),
        municipality=str(r["municipality"]),
        wijk=r["wijk"] if r["wijk"] is None else str(r["wijk"]),
        care_form=CareForm(str(r["care_form"])),
        capacity=int(r["capacity"]),  # type: ignore[call-overload]
        occupied=int(r["occupied"]),  # type: ignore[call-overload]
        supported_needs=[Need(n) for n in r["supported_needs"]],  # type: ignore[attr-defined]
    )


async def facility(conn: asyncpg.Connection, facility_id: str) -> Facility | None:
    row = await conn.fetchrow(f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE facility_id = $1", facility_id)
    return _facility(row) if row else None


async def facility_for_update(conn: asyncpg.Connection, facility_id: str) -> Facility | None:
    row = await conn.fetchrow(
        f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE facility_id = $1 FOR UPDATE", facility_id
    )
    return _facility(row) if row else None


async def facilities(
    conn: asyncpg.Connection | asyncpg.Pool, *, care_form: str | None = None, municipality: str | None = None
) -> list[Facility]:
    rows = await conn.fetch(
        f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE ($1::text IS NULL OR care_form = $1)"
        " AND ($2::text IS NULL OR municipality = $2) ORDER BY facility_id",
        care_form,
        municipality,
    )
    return [_facility(r) for r in rows]


async def facilities_with_free_places(conn: asyncpg.Connection, care_form: CareForm) -> list[Facility]:
    rows = await conn.fetch(
        f"SELECT {_FACILITY_COLUMNS} FROM facilities WHERE care_form = $1 AND occupied < capacity", care_form.value
    )
    return [_facility(r) for r in rows]


async def save_facility(conn: asyncpg.Connection, f: Facility) -> None:
    await conn.execute(
        "INSERT INTO facilities (facility_id, provider_agb, name, municipality, wijk, care_form, capacity,"
        " supported_needs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (facility_id) DO UPDATE SET"
        " provider_agb = excluded.provider_agb, name = excluded.name, municipality = excluded.municipality,"
        " wijk = excluded.wijk, care_form = excluded.care_form, capacity = excluded.capacity,"
        " supported_needs = excluded.supported_needs, updated_at = now()",
        f.facility_id,
        f.provider_agb,
        f.name,
        f.municipality,
        f.wijk,
        f.care_form.value,
        f.capacity,
        [n.value for n in f.supported_needs],
    )


async def add_wijk_places(conn: asyncpg.Connection, wijk: str, places: int, cap: int) -> None:
    """Raises asyncpg.CheckViolationError when the wijk would go over its cap (the database holds it)."""
    await conn.execute(
        "INSERT INTO wijk_places (wijk, places, cap) VALUES ($1, $2, $3)"
        " ON CONFLICT (wijk) DO UPDATE SET places = wijk_places.places + $2, cap = $3",
        wijk,
        places,
        cap,
    )


async def occupy(conn: asyncpg.Connection, facility_id: str, delta: int) -> None:
    await conn.execute("UPDATE facilities SET occupied = occupied + $2 WHERE facility_id = $1", facility_id, delta)


@dataclass(frozen=True)
class Placement:
    placement_id: str
    intake_id: str
    client_ref: str
    facility_id: str
    provider_agb: str
    responsible_municipality: str
    care_form: CareForm
    start_date: date
    end_date: date | None
    ready: bool
    support_at_home: bool


_PLACEMENT_COLUMNS = (
    "placement_id, intake_id, client_ref, facility_id, provider_agb, responsible_municipality, care_form,"
    " start_date, end_date, ready, support_at_home"
)


def _placement(r: asyncpg.Record) -> Placement:
    return Placement(**{**dict(r), "care_form": CareForm(r["care_form"])})


async def add_placement(conn: asyncpg.Connection, p: Placement) -> None:
    await conn.execute(
        "INSERT INTO placements (placement_id, intake_id, client_ref, facility_id, provider_agb,"
        " responsible_municipality, care_form, start_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        p.placement_id,
        p.intake_id,
        p.client_ref,
        p.facility_id,
        p.provider_agb,
        p.responsible_municipality,
        p.care_form.value,
        p.start_date,
    )
    await conn.execute(
        "UPDATE waiting_list SET status = 'placed', placement_id = $2 WHERE intake_id = $1",
        p.intake_id,
        p.placement_id,
    )


async def placement_for_update(conn: asyncpg.Connection, placement_id: str) -> Placement | None:
    row = await conn.fetchrow(
        f"SELECT {_PLACEMENT_COLUMNS} FROM placements WHERE placement_id = $1 FOR UPDATE", placement_id
    )
    return _placement(row) if row else None


async def open_placement_of(conn: asyncpg.Connection, client_ref: str) -> Placement | None:
    row = await conn.fetchrow(
        f"SELECT {_PLACEMENT_COLUMNS} FROM placements WHERE client_ref = $1 AND end_date IS NULL FOR UPDATE",
        client_ref,
    )
    return _placement(row) if row else None


async def end_placement(conn: asyncpg.Connection, placement_id: str, reason: str, end_date: date) -> None:
    await conn.execute(
        "UPDATE placements SET end_date = $2, end_reason = $3 WHERE placement_id = $1", placement_id, end_date, reason
    )


async def record_assessment(
    conn: asyncpg.Connection,
    placement_id: str,
    assessed_on: date,
    scores: dict[str, int],
    client_scores: dict[str, int] | None,
    client_wants_to_move: bool,
    ready: bool,
    support_at_home: bool,
) -> None:
    await conn.execute(
        "INSERT INTO assessments (placement_id, assessed_on, scores, client_scores, client_wants_to_move, ready)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        placement_id,
        assessed_on,
        scores,
        client_scores,
        client_wants_to_move,
        ready,
    )
    await conn.execute(
        "UPDATE placements SET ready = $2, support_at_home = $3 WHERE placement_id = $1",
        placement_id,
        ready,
        support_at_home,
    )


async def update_preferences(conn: asyncpg.Connection, client_ref: str, preferred: list[str]) -> None:
    await conn.execute(
        "UPDATE clients SET preferred_municipalities = $2, updated_at = now() WHERE client_ref = $1",
        client_ref,
        preferred,
    )
    await conn.execute(
        "UPDATE waiting_list SET preferred_municipalities = $2 WHERE client_ref = $1 AND status = 'waiting'",
        client_ref,
        preferred,
    )


async def responsible_for_update(conn: asyncpg.Connection, client_ref: str) -> str | None:
    value = await conn.fetchval(
        "SELECT responsible_municipality FROM clients WHERE client_ref = $1 FOR UPDATE", client_ref
    )
    return None if value is None else str(value)


async def transfer_client(conn: asyncpg.Connection, client_ref: str, to: str, *, leaves_region: bool) -> None:
    """The new municipality is responsible for the client's list entries and open placement from now on."""
    await conn.execute(
        "UPDATE clients SET responsible_municipality = $2, updated_at = now() WHERE client_ref = $1", client_ref, to
    )
    await conn.execute(
        "UPDATE waiting_list SET responsible_municipality = $2,"
        " status = CASE WHEN $3 AND status = 'waiting' THEN 'transferred' ELSE status END"
        " WHERE client_ref = $1 AND status = 'waiting'",
        client_ref,
        to,
        leaves_region,
    )
    await conn.execute(
        "UPDATE placements SET responsible_municipality = $2 WHERE client_ref = $1 AND end_date IS NULL",
        client_ref,
        to,
    )


async def open_placements_of_provider(conn: asyncpg.Connection, provider_agb: str) -> list[Placement]:
    rows = await conn.fetch(
        f"SELECT {_PLACEMENT_COLUMNS} FROM placements WHERE provider_agb = $1 AND end_date IS NULL"
        " ORDER BY start_date, placement_id",
        provider_agb,
    )
    return [_placement(r) for r in rows]
