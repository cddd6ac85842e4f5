"""Projections of facilities and housing offers: places and homes per wijk, quota use, offer outcomes.

As with the flows, rows are upserted so that events from different topics may arrive in any order: an
answer before its offer still ends in one row with both.
"""

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import FacilityRegistered, HousingOfferAccepted, HousingOfferDeclined, HousingOfferMade
from zorgstroom_reporting.projections.position import advance
from zorgstroom_runtime.outbox import UnitOfWork


async def on_facility_registered(uow: UnitOfWork, envelope: Envelope, event: FacilityRegistered) -> None:
    await uow.conn.execute(
        "INSERT INTO facilities (facility_id, provider_agb, municipality, wijk, care_form, capacity, occurred_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (facility_id) DO UPDATE SET"
        " provider_agb = excluded.provider_agb, municipality = excluded.municipality, wijk = excluded.wijk,"
        " care_form = excluded.care_form, capacity = excluded.capacity, occurred_at = excluded.occurred_at"
        " WHERE facilities.occurred_at <= excluded.occurred_at",
        event.facility_id,
        event.provider_agb,
        event.municipality,
        event.wijk,
        event.care_form.value,
        event.capacity,
        envelope.occurred_at,
    )
    await advance(uow, "places", envelope)


async def on_housing_offer_made(uow: UnitOfWork, envelope: Envelope, event: HousingOfferMade) -> None:
    await uow.conn.execute(
        "INSERT INTO offers (offer_id, corporation_id, municipality, wijk, quota_year, offered_on)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (offer_id) DO UPDATE SET"
        " corporation_id = excluded.corporation_id, municipality = excluded.municipality, wijk = excluded.wijk,"
        " quota_year = excluded.quota_year, offered_on = excluded.offered_on",
        event.offer_id,
        event.corporation_id,
        event.municipality,
        event.wijk,
        event.quota_year or event.offered_on.year,
        event.offered_on,
    )
    await advance(uow, "places", envelope)


async def _answer(uow: UnitOfWork, offer_id: str, status: str, answered_on: object, reason: str | None) -> None:
    await uow.conn.execute(
        "INSERT INTO offers (offer_id, status, answered_on, reason) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (offer_id) DO UPDATE SET status = excluded.status, answered_on = excluded.answered_on,"
        " reason = excluded.reason",
        offer_id,
        status,
        answered_on,
        reason,
    )


async def on_housing_offer_accepted(uow: UnitOfWork, envelope: Envelope, event: HousingOfferAccepted) -> None:
    await _answer(uow, event.offer_id, "accepted", event.answered_on, None)
    await advance(uow, "places", envelope)


async def on_housing_offer_declined(uow: UnitOfWork, envelope: Envelope, event: HousingOfferDeclined) -> None:
    status = "lapsed" if event.reason.value == "lapsed" else "declined"
    await _answer(uow, event.offer_id, status, event.answered_on, event.reason.value)
    await advance(uow, "places", envelope)
