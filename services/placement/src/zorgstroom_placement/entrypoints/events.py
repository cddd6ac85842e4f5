"""Placement's Kafka handlers: each turns an event into a use case, in the unit of work the consumer opened
(the event's effect, its emitted events and the record that it was handled commit together)."""

from datetime import date

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered, HousingOfferAccepted
from zorgstroom_placement.adapters.unit_of_work import PostgresPlacementUnitOfWork
from zorgstroom_placement.service_layer import placements, waiting_list
from zorgstroom_runtime.consumer import Rejected
from zorgstroom_runtime.outbox import UnitOfWork


async def on_client_registered(uow: UnitOfWork, envelope: Envelope, event: ClientRegistered) -> None:
    await waiting_list.register(PostgresPlacementUnitOfWork(uow), uow.region, event, date.today())


async def on_housing_offer_accepted(uow: UnitOfWork, envelope: Envelope, event: HousingOfferAccepted) -> None:
    placement_uow = PostgresPlacementUnitOfWork(uow)
    try:
        ended = await placements.complete_outflow(placement_uow, uow.region, event, date.today())
    except placements.NoPlaceToLeave as invalid:
        raise Rejected(str(invalid)) from invalid  # an invalid event: dead-lettered, not retried
    if ended is not None:  # else the outflow was refused (OutflowRefused): no place came free
        await placements.give_freed_place(placement_uow, uow.region, ended)
