"""Housing's Kafka handlers: each turns an event into a use case on housing's unit of work."""

from datetime import date
from typing import Any

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    OutflowReadinessAssessed,
    OutflowRefused,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_housing.adapters.unit_of_work import PostgresHousingUnitOfWork
from zorgstroom_housing.service_layer import clients, offers
from zorgstroom_runtime.consumer import On
from zorgstroom_runtime.outbox import UnitOfWork


async def on_client_registered(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
    await clients.client_registered(PostgresHousingUnitOfWork(uow), uow.region.housing, event, date.today())


async def on_consent_recorded(uow: UnitOfWork, envelope: Envelope, event: ConsentRecorded) -> None:
    await clients.consent_recorded(PostgresHousingUnitOfWork(uow), uow.region.housing, event, date.today())


async def on_placement_made(uow: UnitOfWork, envelope: Envelope, event: PlacementMade) -> None:
    await clients.placement_made(PostgresHousingUnitOfWork(uow), uow.region.housing, event, date.today())


async def on_placement_ended(uow: UnitOfWork, envelope: Envelope, event: PlacementEnded) -> None:
    await clients.placement_ended(PostgresHousingUnitOfWork(uow), uow.region.housing, event, date.today())


async def on_outflow_readiness_assessed(uow: UnitOfWork, envelope: Envelope, event: OutflowReadinessAssessed) -> None:
    await clients.readiness_assessed(PostgresHousingUnitOfWork(uow), uow.region.housing, event, date.today())


async def on_responsibility_transferred(uow: UnitOfWork, envelope: Envelope, event: ResponsibilityTransferred) -> None:
    # Events from before proposals carry no transfer id; the event's own id is as unique.
    transfer_id = event.transfer_id or str(envelope.event_id)
    await clients.responsibility_transferred(
        PostgresHousingUnitOfWork(uow), uow.region.housing, event, transfer_id, date.today()
    )


async def on_outflow_refused(uow: UnitOfWork, envelope: Envelope, event: OutflowRefused) -> None:
    await offers.void(PostgresHousingUnitOfWork(uow), uow.region.housing, event, date.today())


HANDLERS: list[On[Any]] = [
    On(ClientRegistered, on_client_registered),
    On(ConsentRecorded, on_consent_recorded),
    On(PlacementMade, on_placement_made),
    On(PlacementEnded, on_placement_ended),
    On(OutflowReadinessAssessed, on_outflow_readiness_assessed),
    On(ResponsibilityTransferred, on_responsibility_transferred),
    On(OutflowRefused, on_outflow_refused),
]
