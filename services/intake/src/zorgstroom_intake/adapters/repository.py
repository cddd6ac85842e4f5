"""SQL for intakes, idempotency keys and BW endings; the only place intake talks to its tables.

`PostgresIntakes` and `PostgresBwEndings` are the repositories a unit of work carries (`uow.intakes`,
`uow.bw_endings`); they run on the unit of work's connection, so everything they write commits or rolls
back with the events and the audit line.
"""

from uuid import UUID

import asyncpg

from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_intake.domain.responsibility import PreviousBw
from zorgstroom_intake.ports import IntakeRow, KeyedIntake


def _row(record: asyncpg.Record) -> IntakeRow:
    return IntakeRow(
        intake_id=record["intake_id"],
        client_ref=record["client_ref"],
        registering_municipality=record["registering_municipality"],
        responsible_municipality=record["responsible_municipality"],
        responsibility_rule=record["responsibility_rule"],
        care_form=record["care_form"],
        urgency=record["urgency"],
        registered_on=record["registered_on"],
        event_id=record["event_id"],
    )


class PostgresIntakes:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim_key(self, organisation: str, key: str, request_hash: str, intake_id: UUID) -> bool:
        """True when this request owns the key; waits for a concurrent holder of the same key to commit."""
        claimed = await self.conn.fetchval(
            "INSERT INTO idempotency_keys (organisation, key, request_hash, intake_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING RETURNING true",
            organisation,
            key,
            request_hash,
            intake_id,
        )
        return bool(claimed)

    async def by_key(self, organisation: str, key: str) -> KeyedIntake | None:
        record = await self.conn.fetchrow(
            "SELECT k.request_hash, i.* FROM idempotency_keys k JOIN intakes i USING (intake_id)"
            " WHERE k.organisation = $1 AND k.key = $2",
            organisation,
            key,
        )
        return KeyedIntake(record["request_hash"], _row(record)) if record else None

    async def add(self, event: ClientRegistered, event_id: UUID, responsibility_rule: str) -> None:
        await self.conn.execute(
            "INSERT INTO intakes (intake_id, client_ref, registering_municipality, responsible_municipality,"
            " responsibility_rule, care_form, urgency, registered_on, event_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            UUID(event.intake_id),
            event.client_ref,
            event.registering_municipality,
            event.responsible_municipality,
            responsibility_rule,
            event.care_form,
            event.urgency.value,
            event.registered_on,
            event_id,
        )

    async def get(self, intake_id: UUID) -> IntakeRow | None:
        record = await self.conn.fetchrow("SELECT * FROM intakes WHERE intake_id = $1", intake_id)
        return _row(record) if record else None


class PostgresBwEndings:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record(self, client_ref: str, ending: PreviousBw, placement_id: str) -> None:
        await self.conn.execute(
            "INSERT INTO bw_endings (client_ref, ended_on, municipality, placement_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (client_ref) DO UPDATE SET ended_on = excluded.ended_on,"
            " municipality = excluded.municipality, placement_id = excluded.placement_id, recorded_at = now()"
            " WHERE excluded.ended_on >= bw_endings.ended_on",
            client_ref,
            ending.ended_on,
            ending.municipality,
            placement_id,
        )

    async def latest(self, client_ref: str) -> PreviousBw | None:
        record = await self.conn.fetchrow(
            "SELECT municipality, ended_on FROM bw_endings WHERE client_ref = $1", client_ref
        )
        return PreviousBw(record["municipality"], record["ended_on"]) if record else None
