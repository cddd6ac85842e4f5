"""SQL for intakes and idempotency keys; the only place intake talks to its tables."""

from uuid import UUID

import asyncpg

from zorgstroom_contracts.events import ClientRegistered


async def find_idempotent(conn: asyncpg.Connection, organisation: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT k.request_hash, i.* FROM idempotency_keys k JOIN intakes i USING (intake_id)"
        " WHERE k.organisation = $1 AND k.key = $2",
        organisation,
        key,
    )


async def add_intake(conn: asyncpg.Connection, event: ClientRegistered, event_id: UUID) -> None:
    await conn.execute(
        "INSERT INTO intakes (intake_id, client_ref, registering_municipality, responsible_municipality,"
        " responsibility_rule, care_form, urgency, registered_on, event_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        UUID(event.intake_id),
        event.client_ref,
        event.registering_municipality,
        event.responsible_municipality,
        event.responsibility_rule,
        event.care_form.value,
        event.urgency.value,
        event.registered_on,
        event_id,
    )


async def claim_idempotency_key(
    conn: asyncpg.Connection, organisation: str, key: str, request_hash: str, intake_id: UUID
) -> bool:
    """True when this request owns the key; waits for a concurrent holder of the same key to commit."""
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (organisation, key, request_hash, intake_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true",
        organisation,
        key,
        request_hash,
        intake_id,
    )
    return bool(claimed)


# An outbox row missing is one the relay published and retention removed.
async def get_intake(pool: asyncpg.Pool, intake_id: UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT i.*, (o.id IS NULL OR o.published_at IS NOT NULL) AS published FROM intakes i"
        " LEFT JOIN outbox o ON o.event_id = i.event_id WHERE i.intake_id = $1",
        intake_id,
    )
