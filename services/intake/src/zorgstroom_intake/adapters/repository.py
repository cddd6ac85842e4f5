"""SQL for intakes, idempotency keys and BW endings; the only place intake talks to its tables.

`PostgresIntakes` and `PostgresBwEndings` are the repositories a unit of work carries (`uow.intakes`,
`uow.bw_endings`); they run on the unit of work's connection, so everything they write commits or rolls
back with the events and the audit line.
"""

from typing import Any
from uuid import UUID

import asyncpg

from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_intake.domain.responsibility import PreviousBw
from zorgstroom_intake.ports import IntakeRow, KeyClaim, KeyedIntake
from zorgstroom_runtime.outbox import AUDIT_COLUMNS, UnitOfWork


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

    async def register(
        self,
        claim: KeyClaim,
        event: ClientRegistered,
        event_id: UUID,
        responsibility_rule: str,
        audit: tuple[Any, ...],
        uow: UnitOfWork,
    ) -> bool:
        """The key claimed and, if this request owns it, the intake, its audit line and the events emitted in
        `uow`, in ONE statement (a transaction by itself, committed when it returns); False when the key was
        claimed before. The claim comes first (the other writes read from it), as it did as statements."""
        outbox, outbox_args = uow.pending_as_ctes(20, after="claimed")
        notify, channel = uow.notify_sql(28)
        claimed = await self.conn.fetchval(
            "WITH claimed AS (INSERT INTO idempotency_keys (organisation, key, request_hash, intake_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING intake_id),"
            " intake AS (INSERT INTO intakes (intake_id, client_ref, registering_municipality,"
            " responsible_municipality, responsibility_rule, care_form, urgency, registered_on, event_id)"
            " SELECT intake_id, $5, $6, $7, $8, $9, $10, $11::date, $12::uuid FROM claimed),"
            f" audit AS (INSERT INTO audit_log ({AUDIT_COLUMNS})"
            " SELECT $13, $14, $15, $16, $17, $18, $19, $29 FROM claimed),"
            f" {outbox} SELECT count(*) > 0 FROM (SELECT {notify} FROM claimed) AS notified",
            claim.organisation,
            claim.key,
            claim.request_hash,
            UUID(event.intake_id),
            event.client_ref,
            event.registering_municipality,
            event.responsible_municipality,
            responsibility_rule,
            event.care_form,
            event.urgency.value,
            event.registered_on,
            event_id,
            *audit[:7],
            *outbox_args,
            channel,
            audit[7],
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
