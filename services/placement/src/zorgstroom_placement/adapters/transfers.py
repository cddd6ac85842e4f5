"""SQL on placement's own schema for proposed, answered and applied transfers (`uow.transfers`)."""

from collections.abc import Sequence
from datetime import date

import asyncpg

from zorgstroom_contracts.codes import TransferDeclineReason, TransferReason
from zorgstroom_placement.domain.transfers import Transfer, TransferStatus

_TRANSFER_COLUMNS = (
    "transfer_id, client_ref, intake_ids, from_municipality, to_municipality, to_in_region, reason, effective_on,"
    " proposed_on, status, answered_on, decline_reason, applied"
)


def _transfer(r: asyncpg.Record) -> Transfer:
    return Transfer(
        **{
            **dict(r),
            "intake_ids": tuple(r["intake_ids"]),
            "reason": TransferReason(r["reason"]),
            "status": TransferStatus(r["status"]),
            "decline_reason": TransferDeclineReason(r["decline_reason"]) if r["decline_reason"] else None,
        }
    )


class PostgresTransfers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, t: Transfer) -> None:
        await self.conn.execute(
            f"INSERT INTO transfers ({_TRANSFER_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            t.transfer_id,
            t.client_ref,
            list(t.intake_ids),
            t.from_municipality,
            t.to_municipality,
            t.to_in_region,
            t.reason.value,
            t.effective_on,
            t.proposed_on,
            t.status.value,
            t.answered_on,
            t.decline_reason.value if t.decline_reason else None,
            t.applied,
        )

    async def get_for_update(self, transfer_id: str) -> Transfer | None:
        row = await self.conn.fetchrow(
            f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE transfer_id = $1 FOR UPDATE", transfer_id
        )
        return _transfer(row) if row else None

    async def save(self, t: Transfer) -> None:
        await self.conn.execute(
            "UPDATE transfers SET status = $2, answered_on = $3, decline_reason = $4, applied = $5"
            " WHERE transfer_id = $1",
            t.transfer_id,
            t.status.value,
            t.answered_on,
            t.decline_reason.value if t.decline_reason else None,
            t.applied,
        )

    async def pending_for(self, intake_ids: Sequence[str]) -> list[Transfer]:
        rows = await self.conn.fetch(
            f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE intake_ids && $1::text[]"
            " AND (status = 'proposed' OR (status = 'accepted' AND NOT applied))",
            list(intake_ids),
        )
        return [_transfer(r) for r in rows]

    async def latest_accepted_effective_on(self, intake_ids: Sequence[str]) -> date | None:
        latest: date | None = await self.conn.fetchval(
            "SELECT max(effective_on) FROM transfers WHERE intake_ids && $1::text[] AND status = 'accepted'",
            list(intake_ids),
        )
        return latest

    async def due(self, today: date) -> list[Transfer]:
        rows = await self.conn.fetch(
            f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE status = 'accepted' AND NOT applied"
            " AND effective_on <= $1 ORDER BY effective_on, answered_on, transfer_id FOR UPDATE",
            today,
        )
        return [_transfer(r) for r in rows]

    async def involving(self, municipality: str | None, status: TransferStatus | None) -> list[Transfer]:
        rows = await self.conn.fetch(
            f"SELECT {_TRANSFER_COLUMNS}, created_at FROM transfers"
            " WHERE ($1::text IS NULL OR from_municipality = $1 OR to_municipality = $1)"
            ' AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, transfer_id COLLATE "C"',  # pages' key
            municipality,
            status.value if status else None,
        )
        return [_transfer(r) for r in rows]
