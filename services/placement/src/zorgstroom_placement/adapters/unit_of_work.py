"""Placement's unit of work on PostgreSQL: the runtime's transaction (outbox, audit) with placement's
repositories on its connection."""

import contextlib
from collections.abc import AsyncIterator, Sequence

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import Event
from zorgstroom_placement.adapters.placements import PostgresPlacements
from zorgstroom_placement.adapters.repository import PostgresFacilities, PostgresWaitingList
from zorgstroom_placement.adapters.transfers import PostgresTransfers
from zorgstroom_placement.ports import UnitsOfWork
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.auth import Principal
from zorgstroom_runtime.idempotency import request_unit_of_work
from zorgstroom_runtime.outbox import UnitOfWork


class PostgresPlacementUnitOfWork:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.waiting_list = PostgresWaitingList(uow.conn)
        self.facilities = PostgresFacilities(uow.conn)
        self.placements = PostgresPlacements(uow.conn)
        self.transfers = PostgresTransfers(uow.conn)

    async def emit(self, event: Event, *, also_to: Sequence[str] = (), copy: Event | None = None) -> Envelope:
        return await self._uow.emit(event, also_to=also_to, copy=copy)

    async def audit_as(
        self, principal: Principal, action: str, *, client_ref: str | None = None, subject: str | None = None
    ) -> None:
        await self._uow.audit_as(principal, action, client_ref=client_ref, subject=subject)


def units_of_work(context: ServiceContext) -> UnitsOfWork:
    """The factory the service layer receives: it knows nothing of the pool, the outbox or the region."""

    @contextlib.asynccontextmanager
    async def open_unit(*, correlation_id: str | None = None) -> AsyncIterator[PostgresPlacementUnitOfWork]:
        async with request_unit_of_work(context, correlation_id=correlation_id) as uow:
            yield PostgresPlacementUnitOfWork(uow)

    return open_unit
