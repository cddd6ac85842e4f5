"""Intake's unit of work on PostgreSQL: the runtime's transaction (outbox, audit) with intake's repository."""

import contextlib
from collections.abc import AsyncIterator
from typing import Literal
from uuid import UUID

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_intake.adapters.repository import PostgresBwEndings, PostgresIntakes
from zorgstroom_intake.ports import KeyClaim, UnitsOfWork
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.outbox import UnitOfWork


class PostgresIntakeUnitOfWork:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.intakes = PostgresIntakes(uow.conn)
        self.bw_endings = PostgresBwEndings(uow.conn)

    async def register(
        self, claim: KeyClaim, event: ClientRegistered, responsibility_rule: str, *, actor: str
    ) -> Envelope | None:
        envelope = await self._uow.emit(event)  # kept in the unit of work, written by the statement below
        audit = self._uow.audit_values(
            actor=actor,
            on_behalf_of=claim.organisation,
            action="intake.register",
            client_ref=event.client_ref,
            subject=event.intake_id,
        )
        claimed = await self.intakes.register(claim, event, envelope.event_id, responsibility_rule, audit, self._uow)
        return envelope if claimed else None

    async def emit(self, event: ClientRegistered) -> Envelope:
        return await self._uow.emit(event)

    async def published(self, event_id: UUID) -> bool:
        return await self._uow.published(event_id)

    async def audit(
        self,
        *,
        actor: str,
        on_behalf_of: str,
        action: str,
        client_ref: str | None = None,
        subject: str | None = None,
        outcome: Literal["ok", "replayed"] = "ok",
    ) -> None:
        await self._uow.audit(
            actor=actor,
            on_behalf_of=on_behalf_of,
            action=action,
            client_ref=client_ref,
            subject=subject,
            outcome=outcome,
        )


def units_of_work(context: ServiceContext) -> UnitsOfWork:
    """The factory the service layer receives: it knows nothing of the pool, the outbox or the region."""

    @contextlib.asynccontextmanager
    async def open_unit(
        *, correlation_id: str | None = None, single_statements: bool = False
    ) -> AsyncIterator[PostgresIntakeUnitOfWork]:
        if single_statements:  # no BEGIN and COMMIT: each write is one statement, all or nothing by itself
            async with context.statement_unit_of_work(correlation_id=correlation_id) as uow:
                yield PostgresIntakeUnitOfWork(uow)
            return
        async with context.unit_of_work(correlation_id=correlation_id) as uow:
            yield PostgresIntakeUnitOfWork(uow)

    return open_unit
