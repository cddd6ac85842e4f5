"""SQL on placement's own schema for placements and their assessments (`uow.placements`)."""

from collections.abc import Sequence
from datetime import date

import asyncpg

from zorgstroom_placement.domain.placements import Placement

_PLACEMENT_COLUMNS = (
    "placement_id, intake_id, client_ref, facility_id, provider_agb, responsible_municipality, care_form,"
    " start_date, end_date, ready, support_at_home"
)


def _placement(r: asyncpg.Record) -> Placement:
    return Placement(**dict(r))


class PostgresPlacements:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, p: Placement, doorstroom_from: str | None) -> None:
        await self.conn.execute(
            "INSERT INTO placements (placement_id, intake_id, client_ref, facility_id, provider_agb,"
            " responsible_municipality, care_form, start_date, doorstroom_from)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            p.placement_id,
            p.intake_id,
            p.client_ref,
            p.facility_id,
            p.provider_agb,
            p.responsible_municipality,
            p.care_form,
            p.start_date,
            doorstroom_from,
        )

    async def get(self, placement_id: str) -> Placement | None:
        row = await self.conn.fetchrow(
            f"SELECT {_PLACEMENT_COLUMNS} FROM placements WHERE placement_id = $1", placement_id
        )
        return _placement(row) if row else None

    async def get_for_update(self, placement_id: str) -> Placement | None:
        row = await self.conn.fetchrow(
            f"SELECT {_PLACEMENT_COLUMNS} FROM placements WHERE placement_id = $1 FOR UPDATE", placement_id
        )
        return _placement(row) if row else None

    async def open_of_client(self, client_ref: str) -> Placement | None:
        row = await self.conn.fetchrow(
            f"SELECT {_PLACEMENT_COLUMNS} FROM placements WHERE client_ref = $1 AND end_date IS NULL FOR UPDATE",
            client_ref,
        )
        return _placement(row) if row else None

    async def end(self, placement_id: str, reason: str, end_date: date) -> None:
        await self.conn.execute(
            "UPDATE placements SET end_date = $2, end_reason = $3 WHERE placement_id = $1",
            placement_id,
            end_date,
            reason,
        )

    async def open_of_provider(self, provider_agb: str) -> list[Placement]:
        rows = await self.conn.fetch(
            f"SELECT {_PLACEMENT_COLUMNS} FROM placements WHERE provider_agb = $1 AND end_date IS NULL"
            ' ORDER BY start_date, placement_id COLLATE "C"',  # as pages compare ids
            provider_agb,
        )
        return [_placement(r) for r in rows]

    async def record_assessment(
        self,
        placement_id: str,
        assessed_on: date,
        scores: dict[str, int],
        client_scores: dict[str, int] | None,
        client_wants_to_move: bool,
        ready: bool,
        support_at_home: bool,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO assessments (placement_id, assessed_on, scores, client_scores, client_wants_to_move, ready)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            placement_id,
            assessed_on,
            scores,
            client_scores,
            client_wants_to_move,
            ready,
        )
        await self.conn.execute(
            "UPDATE placements SET ready = $2, support_at_home = $3 WHERE placement_id = $1",
            placement_id,
            ready,
            support_at_home,
        )

    async def hand_over(self, intake_ids: Sequence[str], to: str) -> None:
        await self.conn.execute(
            "UPDATE placements SET responsible_municipality = $2"
            " WHERE intake_id = ANY($1::text[]) AND end_date IS NULL",
            list(intake_ids),
            to,
        )
