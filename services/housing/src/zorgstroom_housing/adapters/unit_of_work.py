"""Housing's unit of work on PostgreSQL: the runtime's transaction (outbox, audit) with housing's repositories."""

import contextlib
from collections.abc import AsyncIterator

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import Event
from zorgstroom_housing.adapters.clients import PostgresClients, PostgresTransfers
from zorgstroom_housing.adapters.repository import (
    PostgresContingents,
    PostgresOffers,
    PostgresUnits,
    PostgresWijkHomes,
)
from zorgstroom_housing.ports import UnitsOfWork
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.idempotency import request_unit_of_work
from zorgstroom_runtime.outbox import UnitOfWork


class PostgresHousingUnitOfWork:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.units = PostgresUnits(uow.conn)
        self.contingents = PostgresContingents(uow.conn)
        self.offers = PostgresOffers(uow.conn)
        self.wijk_homes = PostgresWijkHomes(uow.conn)
        self.clients = PostgresClients(uow.conn)
        self.transfers = PostgresTransfers(uow.conn)

    async def emit(self, event: Event) -> Envelope:
        return await self._uow.emit(event)

    async def audit_as(
        self, principal: Principal, action: str, *, client_ref: str | None = None, subject: str | None = None
    ) -> None:
        await self._uow.audit_as(principal, action, client_ref=client_ref, subject=subject)

    async def take_matching_turn(self) -> None:
        # Across processes, until the transaction ends: one offer per unit at a time, and the quotas and wijk
        # homes a matcher counted stay as counted until its offers are kept. The key names the schema: services
        # that share a database (two regions, or a test run) do not wait on each other.
        await self._uow.conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':housing-match'))")


def units_of_work(context: ServiceContext) -> UnitsOfWork:
    """The factory the service layer receives: it knows nothing of the pool, the outbox or the region's file."""

    @contextlib.asynccontextmanager
    async def open_unit(*, correlation_id: str | None = None) -> AsyncIterator[PostgresHousingUnitOfWork]:
        async with request_unit_of_work(context, correlation_id=correlation_id) as uow:
            yield PostgresHousingUnitOfWork(uow)

    return open_unit
