"""SQL on housing's view of clients and their transfers: `uow.clients` and `uow.transfers`, on the unit of
work's connection like every repository."""

from datetime import date

import asyncpg

from zorgstroom_housing.domain.model import ConsentFact, HousingClient, Transfer
from zorgstroom_housing.domain.offers import ReadyClient

_CLIENT_COLUMNS = (
    "client_ref, responsible_municipality, preferred_municipalities, adults, children, placement_id, intake_id,"
    " ready_since, support_at_home, housed_on, consent_to_share, consent_on, consent_recorded, registered_on, wishes_on"
)


def _client(r: asyncpg.Record) -> HousingClient:
    fields = dict(r)
    given, on, recorded = fields.pop("consent_to_share"), fields.pop("consent_on"), fields.pop("consent_recorded")
    consent = ConsentFact(given, on, bool(recorded)) if given is not None and on is not None else None
    return HousingClient(
        **{**fields, "preferred_municipalities": tuple(r["preferred_municipalities"])}, consent=consent
    )


class PostgresClients:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get(self, client_ref: str) -> HousingClient | None:
        r = await self.conn.fetchrow(
            f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE client_ref = $1 FOR UPDATE", client_ref
        )
        return _client(r) if r is not None else None

    async def save(self, client: HousingClient) -> None:
        await self.conn.execute(
            f"INSERT INTO clients ({_CLIENT_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 16))})"
            " ON CONFLICT (client_ref) DO UPDATE SET responsible_municipality = excluded.responsible_municipality,"
            " preferred_municipalities = excluded.preferred_municipalities, adults = excluded.adults,"
            " children = excluded.children, placement_id = excluded.placement_id, intake_id = excluded.intake_id,"
            " ready_since = excluded.ready_since, support_at_home = excluded.support_at_home,"
            " housed_on = excluded.housed_on, consent_to_share = excluded.consent_to_share,"
            " consent_on = excluded.consent_on, consent_recorded = excluded.consent_recorded,"
            " registered_on = excluded.registered_on, wishes_on = excluded.wishes_on",
            client.client_ref,
            client.responsible_municipality,
            list(client.preferred_municipalities),
            client.adults,
            client.children,
            client.placement_id,
            client.intake_id,
            client.ready_since,
            client.support_at_home,
            client.housed_on,
            client.consent.given if client.consent is not None else None,
            client.consent.on if client.consent is not None else None,
            client.consent.recorded if client.consent is not None else None,
            client.registered_on,
            client.wishes_on,
        )

    async def placement_has_ended(self, placement_id: str) -> bool:
        return bool(await self.conn.fetchval("SELECT true FROM ended_placements WHERE placement_id = $1", placement_id))

    async def record_ending(self, placement_id: str) -> None:
        await self.conn.execute("INSERT INTO ended_placements VALUES ($1) ON CONFLICT DO NOTHING", placement_id)

    async def ready(self) -> list[ReadyClient]:
        rows = await self.conn.fetch(
            "SELECT c.client_ref, c.responsible_municipality, c.preferred_municipalities, c.adults, c.children,"
            " c.ready_since, c.intake_id, CASE WHEN c.consent_to_share THEN c.consent_on END AS consent_since,"
            " EXISTS (SELECT 1 FROM offers o WHERE o.client_ref = c.client_ref AND o.status = 'open')"
            " AS has_open_offer,"
            " ARRAY(SELECT o.unit_id FROM offers o WHERE o.client_ref = c.client_ref"
            " AND o.status IN ('declined', 'lapsed')) AS declined_units,"
            " ARRAY(SELECT row(t.transfer_id, t.to_municipality, t.effective_on, t.intake_ids, t.received)"
            " FROM transfers t WHERE t.client_ref = c.client_ref) AS transfers FROM clients c"
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
                intake_id=r["intake_id"],
                consent_since=r["consent_since"],
                transfers=tuple(
                    Transfer(t[0], r["client_ref"], t[1], t[2], frozenset(t[3]) if t[3] is not None else None, t[4])
                    for t in r["transfers"]
                ),
            )
            for r in rows
        ]


class PostgresTransfers:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, transfer: Transfer) -> None:
        await self.conn.execute(
            "INSERT INTO transfers (transfer_id, client_ref, to_municipality, effective_on, intake_ids)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (transfer_id) DO NOTHING",
            transfer.transfer_id,
            transfer.client_ref,
            transfer.to_municipality,
            transfer.effective_on,
            sorted(transfer.intake_ids) if transfer.intake_ids is not None else None,
        )

    async def bind_to_episode(self, client_ref: str, intake_id: str, started_on: date) -> None:
        await self.conn.execute(
            "UPDATE transfers SET intake_ids = ARRAY[$2] WHERE client_ref = $1 AND intake_ids IS NULL"
            " AND effective_on >= $3",
            client_ref,
            intake_id,
            started_on,
        )
