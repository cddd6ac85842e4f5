"""SQL for placement's waiting list."""

import asyncpg

from zorgstroom_contracts.codes import CareForm, Urgency
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_placement.domain.waiting_list import WaitingClient


async def add_to_waiting_list(conn: asyncpg.Connection, event: ClientRegistered) -> bool:
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


async def waiting_clients(
    pool: asyncpg.Pool, *, care_form: str | None, municipality: str | None
) -> list[WaitingClient]:
    rows = await pool.fetch(
        "SELECT client_ref, care_form, responsible_municipality, urgency, waiting_since FROM waiting_list"
        " WHERE status = 'waiting' AND ($1::text IS NULL OR care_form = $1)"
        " AND ($2::text IS NULL OR responsible_municipality = $2)",
        care_form,
        municipality,
    )
    return [
        WaitingClient(
            r["client_ref"],
            CareForm(r["care_form"]),
            r["responsible_municipality"],
            Urgency(r["urgency"]),
            r["waiting_since"],
        )
        for r in rows
    ]
