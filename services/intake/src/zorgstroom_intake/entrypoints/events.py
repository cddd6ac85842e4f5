"""Kafka handlers of intake: translate an event into a use case of the service layer."""

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import PlacementEnded
from zorgstroom_intake import service
from zorgstroom_intake.adapters.unit_of_work import PostgresIntakeUnitOfWork
from zorgstroom_runtime.outbox import UnitOfWork


async def on_placement_ended(uow: UnitOfWork, envelope: Envelope, event: PlacementEnded) -> None:
    """A BW that ended becomes the system's own record for the 12-month BW rule (docs/domain.md, 'Relapse')."""
    await service.record_placement_ended(PostgresIntakeUnitOfWork(uow), uow.region, event)
